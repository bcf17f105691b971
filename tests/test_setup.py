"""setup.sh, the README's first command: apt-get as root without sudo, through sudo otherwise;
its package lists are the ones CI installs and cover what the README's commands use.

The commands run in --dry-run mode with a PATH holding only a stand-in `id` (root or not) and,
where wanted, a stand-in `sudo`: no package is installed and no sudo is needed here.
"""
import re
import subprocess

from conftest import ROOT

SETUP = ROOT / "setup.sh"


def dry(tmp_path, uid, sudo, *args):
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    (bin_ / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bin_ / "id").chmod(0o755)
    if sudo:
        (bin_ / "sudo").write_text("#!/bin/sh\nexec \"$@\"\n")
        (bin_ / "sudo").chmod(0o755)
    return subprocess.run(["/bin/sh", str(SETUP), "--dry-run", *args], capture_output=True,
                          text=True, env={"PATH": str(bin_)}, timeout=60)


def apt_lines(out):
    return [l for l in out.splitlines() if l.startswith("+ ")]


def test_root_without_sudo(tmp_path):
    r = dry(tmp_path, 0, False)
    assert r.returncode == 0, r.stderr
    lines = apt_lines(r.stdout)
    assert len(lines) == 2
    assert lines[0] == "+ env DEBIAN_FRONTEND=noninteractive apt-get update -qq"
    assert lines[1].startswith("+ env DEBIAN_FRONTEND=noninteractive apt-get install -y")
    assert not any("sudo" in l for l in lines)


def test_user_with_sudo(tmp_path):
    r = dry(tmp_path, 1000, True, "--tests")
    assert r.returncode == 0, r.stderr
    lines = apt_lines(r.stdout)
    assert len(lines) == 2 and all(l.startswith("+ sudo env ") for l in lines), lines


def test_user_without_sudo(tmp_path):
    r = dry(tmp_path, 1000, False)
    assert r.returncode == 1
    assert "not root and no sudo" in r.stderr
    assert apt_lines(r.stdout) == []


def test_bad_argument(tmp_path):
    r = dry(tmp_path, 0, False, "--bogus")
    assert r.returncode == 4 and "setup.sh: --bogus:" in r.stderr


def packages(tmp_path, *args):
    r = dry(tmp_path, 0, False, *args)
    return set(apt_lines(r.stdout)[1].split("--no-install-recommends", 1)[1].split())


def test_package_lists(tmp_path):
    """The build list has what `make` and `make guest` run; --tests adds the test tools;
    .ci/run installs through setup.sh --tests; the README runs setup.sh in both commands."""
    build, full = packages(tmp_path), packages(tmp_path, "--tests")
    for p in ("build-essential", "make", "nasm", "libmd-dev", "python3", "busybox-static",
              "cpio", "kmod"):
        assert p in build
    assert build < full
    for p in ("python3-pytest", "python3-pexpect", "libzydis-dev", "qemu-system-x86",
              "acpica-tools", "dmidecode", "clang", "libclang-rt-14-dev"):
        assert p in full
    uefi = packages(tmp_path, "--uefi")
    assert build < uefi and uefi - build < full
    for p in ("ovmf", "grub-efi-amd64-bin", "mtools", "dosfstools", "fdisk", "mmdebstrap"):
        assert p in uefi
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^sh \./setup\.sh --tests", ci, re.M)
    assert "apt-get install" not in ci, "a second package list in .ci/run"
    readme = (ROOT / "README.md").read_text()
    assert "sudo apt-get" not in readme
    assert re.search(r"^sh setup\.sh && make && make guest", readme, re.M)
    assert re.search(r"^sh setup\.sh --tests && make", readme, re.M)


def test_help():
    r = subprocess.run(["/bin/sh", str(SETUP), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "sh setup.sh [--tests] [--uefi] [--dry-run]" in r.stdout
