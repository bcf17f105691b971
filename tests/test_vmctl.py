"""bhyveload / bhyvectl / bhyve's run path: VM lifetime in /dev/shm, loading, inspection,
error handling, and small Multiboot test guests (tests/guests/mb_*.asm) run on the software
CPU: COM1 output, every exit status, INIT/SIPI, SIGTERM as the power button, live registers."""
import os
import pathlib
import signal
import struct
import subprocess

import pytest

from conftest import BUILD, ROOT, prog

def guest(name):
    """A test guest built by `make guests` (build-san has none: use build/'s)."""
    p = BUILD / "tests" / "guests" / name
    return p if p.exists() else ROOT / "build" / "tests" / "guests" / name


GUEST = guest("mb_hello.bin")

_counter = [0]


def shm(name):
    return pathlib.Path("/dev/shm") / f"bhyve.{name}"


@pytest.fixture
def vmname():
    _counter[0] += 1
    name = f"pyt-{os.getpid()}-{_counter[0]}"
    yield name
    subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
    assert not shm(name).exists()


def run(*args, timeout=60):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


def one_line(r, who):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{who}: "), r.stderr
    return lines[0]


def fake_bzimage(path, init_size=0x1000000):
    img = bytearray(1024 + 4096)
    img[0x1F1] = 1
    struct.pack_into("<H", img, 0x1FE, 0xAA55)
    img[0x200:0x202] = b"\xeb\x66"
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, 0x020F)
    img[0x211] = 1
    struct.pack_into("<I", img, 0x22C, 0x7FFFFFFF)
    struct.pack_into("<H", img, 0x236, 1)
    struct.pack_into("<I", img, 0x238, 2047)
    struct.pack_into("<Q", img, 0x258, 0x1000000)
    struct.pack_into("<I", img, 0x260, init_size)
    path.write_bytes(bytes(img))
    return path


@pytest.mark.skipif(not GUEST.exists(), reason="make guests not run")
def test_load_inspect_destroy(vmname):
    r = run(prog("bhyveload"), "-m", "64M", "-k", GUEST, "-a", "a=1", "-e", "b=2", vmname)
    assert r.returncode == 0, r.stderr
    assert shm(vmname).exists()
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-lowmem", "--get-highmem")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["lowmem\t\t0x0000000000000000/67108864",
                                     "highmem\t\t0x0000000100000000/0"]
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-rip", "--get-rax", "--get-rbx")
    assert r.returncode == 0, r.stderr
    assert "rip[0]\t\t0x0000000000100020" in r.stdout
    assert "rax[0]\t\t0x000000002badb002" in r.stdout
    assert "rbx[0]\t\t0x0000000000021000" in r.stdout
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-memmap", "--get-stats")
    assert r.returncode == 0 and "sysmem" in r.stdout and "vcpu0 stats:" in r.stdout
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--destroy")
    assert r.returncode == 0, r.stderr
    assert not shm(vmname).exists()


def test_linux_bzimage_entry(vmname, tmp_path):
    k = fake_bzimage(tmp_path / "bzImage")
    r = run(prog("bhyveload"), "-m", "256M", "-h", tmp_path, "-k", "bzImage", vmname)
    assert r.returncode == 0, r.stderr
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-rip", "--get-rsi", "--get-efer",
            "--get-cr3")
    assert r.returncode == 0, r.stderr
    assert "rip[0]\t\t0x0000000000100200" in r.stdout
    assert "rsi[0]\t\t0x0000000000007000" in r.stdout
    assert "efer[0]\t\t0x0000000000000500" in r.stdout
    assert "cr3[0]\t\t0x0000000000009000" in r.stdout
    assert k.exists()


def test_reload_reinitializes(vmname, tmp_path):
    k = fake_bzimage(tmp_path / "bzImage")
    assert run(prog("bhyveload"), "-m", "64M", "-k", k, vmname).returncode == 0
    assert run(prog("bhyveload"), "-m", "5G", "-k", k, vmname).returncode == 0
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-lowmem", "--get-highmem")
    assert r.stdout.splitlines() == ["lowmem\t\t0x0000000000000000/3221225472",
                                     "highmem\t\t0x0000000100000000/2147483648"]


@pytest.mark.parametrize("args,needle", [
    (["-d", "/tmp/disk.img"], "not supported"),
    (["-l", "/boot/userboot.so"], "not supported"),
    (["-m", "12Q", "-k", "/bin/true"], "-m 12Q"),
    (["-m", "0", "-k", "/bin/true"], "-m 0"),
    (["-k", "/nonexistent/kernel"], "/nonexistent/kernel"),
    (["-k", "/bin/true", "-i", "/nonexistent/initrd"], "/nonexistent/initrd"),
    (["-e", "novalue", "-k", "/bin/true"], "name=value"),
    ([], "no kernel"),
    (["-k", "/bin/true"], "neither a Linux bzImage nor a Multiboot kernel"),
])
def test_bhyveload_errors(vmname, args, needle):
    r = run(prog("bhyveload"), *args, vmname)
    assert r.returncode == 1
    assert needle in one_line(r, "bhyveload")
    assert not shm(vmname).exists(), "a failed load left a VM behind"


def test_bhyveload_malformed_kernel_leaves_nothing(vmname, tmp_path):
    k = fake_bzimage(tmp_path / "bzImage", init_size=0x7FFFFFFF)
    r = run(prog("bhyveload"), "-m", "64M", "-k", k, vmname)
    assert r.returncode == 1
    assert "too small" in one_line(r, "bhyveload")
    assert not shm(vmname).exists()


@pytest.mark.skipif(not GUEST.exists(), reason="make guests not run")
def test_bhyveload_memory_beyond_shm(vmname):
    st = os.statvfs("/dev/shm")
    free_gib = st.f_bavail * st.f_frsize >> 30
    if free_gib >= 1000:
        pytest.skip("/dev/shm is huge")
    r = run(prog("bhyveload"), "-m", f"{free_gib + 8}G", "-k", GUEST, vmname)
    assert r.returncode == 1
    assert "/dev/shm" in one_line(r, "bhyveload")
    assert not shm(vmname).exists()


def test_bhyveload_usage():
    r = run(prog("bhyveload"))
    assert r.returncode == 1 and "usage: bhyveload" in r.stderr
    r = run(prog("bhyveload"), "-k", "/bin/true", "bad/name")
    assert r.returncode == 1 and "vmname" in one_line(r, "bhyveload")


def test_bhyvectl_errors(vmname):
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-lowmem")
    assert r.returncode == 1 and "could not be opened" in one_line(r, "bhyvectl")
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--destroy")
    assert r.returncode == 1 and "no such VM" in one_line(r, "bhyvectl")
    for opt in ("--checkpoint=/tmp/x", "--suspend=/tmp/x"):
        r = run(prog("bhyvectl"), f"--vm={vmname}", opt)
        assert r.returncode == 1 and "not implemented yet" in one_line(r, "bhyvectl")
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--cpu=99", "--get-rip")
    assert r.returncode == 1 and "--cpu=99" in one_line(r, "bhyvectl")
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--bogus")
    assert r.returncode == 1
    r = run(prog("bhyvectl"), "--get-lowmem")
    assert r.returncode == 1 and "usage" in r.stderr
    r = run(prog("bhyvectl"), "--vm=../x", "--destroy")
    assert r.returncode == 1 and "invalid VM name" in one_line(r, "bhyvectl")


def test_bhyvectl_create_destroy(vmname):
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--create", "--memsize=32M")
    assert r.returncode == 0, r.stderr
    assert shm(vmname).exists()
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--create")
    assert r.returncode == 1 and "already exists" in one_line(r, "bhyvectl")
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-rip")
    assert r.returncode == 1 and "not been loaded" in one_line(r, "bhyvectl")
    r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-lowmem")
    assert r.stdout == "lowmem\t\t0x0000000000000000/33554432\n"
    assert run(prog("bhyvectl"), f"--vm={vmname}", "--destroy").returncode == 0
    assert not shm(vmname).exists()


def test_bhyve_without_vm(vmname):
    r = run(prog("bhyve"), "-m", "64M", vmname)
    assert r.returncode == 4
    assert "does not exist" in one_line(r, "bhyve")


@pytest.mark.skipif(not GUEST.exists(), reason="make guests not run")
def test_bhyve_memsize_mismatch(vmname):
    assert run(prog("bhyveload"), "-m", "64M", "-k", GUEST, vmname).returncode == 0
    r = run(prog("bhyve"), "-m", "128M", vmname)
    assert r.returncode == 4
    assert "does not match" in one_line(r, "bhyve")
    r = run(prog("bhyve"), vmname)            # default 256M
    assert r.returncode == 4


def _boot(cmd):
    return run(*cmd, timeout=120)


@pytest.mark.skipif(not GUEST.exists(), reason="make guests not run")
def test_multiboot_guest_powers_off(vmname):
    r = run(prog("bhyveload"), "-m", "64M", "-k", GUEST, "-a", "hello from pytest", vmname)
    assert r.returncode == 0, r.stderr
    r = _boot([prog("bhyve"), "-m", "64M", "-H", "-l", "com1,stdio", vmname])
    assert "mb_hello: multiboot ok, cmdline: mb_hello.bin hello from pytest" in r.stdout, \
        r.stdout + r.stderr
    assert "mb_hello: memory 64 MiB" in r.stdout
    assert r.returncode == 1, r.stdout + r.stderr    # powered off (ACPI S5)
    assert shm(vmname).exists()                      # bhyve leaves the VM for bhyvectl


@pytest.mark.skipif(not GUEST.exists(), reason="make guests not run")
def test_destroy_on_poweroff(vmname):
    assert run(prog("bhyveload"), "-m", "64M", "-k", GUEST, vmname).returncode == 0
    r = _boot([prog("bhyve"), "-m", "64M", "-o", "destroy_on_poweroff=true", vmname])
    assert r.returncode == 1, r.stdout + r.stderr
    assert not shm(vmname).exists()


@pytest.mark.skipif(not GUEST.exists(), reason="make guests not run")
def test_one_command_boot(vmname):
    r = _boot([prog("bhyve"), "-m", "32M", "-l", "com1,stdio", "-o", f"loader.kernel={GUEST}",
               "-o", "loader.cmdline=x=y", vmname])
    assert "cmdline: mb_hello.bin x=y" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 1, r.stdout + r.stderr
    assert not shm(vmname).exists()


def test_one_command_boot_bad_kernel(vmname):
    r = run(prog("bhyve"), "-m", "32M", "-o", "loader.kernel=/nonexistent", vmname)
    assert r.returncode == 4
    assert "/nonexistent" in one_line(r, "bhyve")
    assert not shm(vmname).exists()


@pytest.mark.skipif(not guest("mb_exit.bin").exists(), reason="make guests not run")
@pytest.mark.parametrize("how,status", [("reset", 0), ("poweroff", 1), ("halt", 2),
                                        ("fault", 3)])
def test_exit_status(vmname, how, status):
    r = _boot([prog("bhyve"), "-m", "32M", "-l", "com1,stdio",
               "-o", f"loader.kernel={guest('mb_exit.bin')}", "-o", f"loader.cmdline={how}",
               vmname])
    assert f"mb_exit: {how}" in r.stdout, r.stdout + r.stderr
    assert r.returncode == status, r.stdout + r.stderr
    if how == "fault":
        assert "bhyve: vCPU 0 triple fault at rip 0x" in r.stderr


@pytest.mark.skipif(not GUEST.exists(), reason="make guests not run")
def test_halt_polling_without_H(vmname):
    """Without -H a halted vCPU polls; the guest still runs to its power-off."""
    r = _boot([prog("bhyve"), "-m", "32M", "-l", "com1,stdio",
               "-o", f"loader.kernel={GUEST}", vmname])
    assert "mb_hello: powering off" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 1


@pytest.mark.skipif(not guest("mb_smp.bin").exists(), reason="make guests not run")
def test_smp_init_sipi(vmname):
    r = _boot([prog("bhyve"), "-c", "2", "-m", "32M", "-H", "-l", "com1,stdio",
               "-o", f"loader.kernel={guest('mb_smp.bin')}", vmname])
    assert "mb_smp: AP up" in r.stdout, r.stdout + r.stderr
    assert "mb_smp: BSP saw the AP" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 1


@pytest.mark.skipif(not guest("mb_button.bin").exists(), reason="make guests not run")
def test_sigterm_presses_power_button(vmname):
    assert run(prog("bhyveload"), "-m", "32M", "-k", guest("mb_button.bin"),
               vmname).returncode == 0
    p = subprocess.Popen([prog("bhyve"), "-m", "32M", "-l", "com1,stdio", vmname],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line:
            err = p.stderr.read()
            p.wait(timeout=30)
            pytest.fail(f"no output; status {p.returncode}: {err}")
        assert "mb_button: waiting" in line
        # The live vCPU state comes from the running bhyve (control socket).
        r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-rip", "--get-cs")
        assert r.returncode == 0, r.stderr
        rip = int(r.stdout.split("rip[0]")[1].split()[0], 16)
        assert 0x100020 <= rip < 0x101000, r.stdout
        assert "cs[0]\t\t0x0018/" in r.stdout
        r = run(prog("bhyvectl"), f"--vm={vmname}", "--get-stats")
        assert r.returncode == 0
        assert int(r.stdout.split("inout")[1].split()[0]) > 0, r.stdout
        r = run(prog("bhyvectl"), f"--vm={vmname}", "--cpu=1", "--get-rip")
        assert r.returncode == 1 and "no such vCPU" in one_line(r, "bhyvectl")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "mb_button: power button" in out, out + err
    assert p.returncode == 1, out + err


def test_bootrom_vm_not_left_behind_on_setup_error(vmname, tmp_path, monkeypatch):
    """-l bootrom makes bhyve create the VM; a set-up failure removes what it made."""
    monkeypatch.setenv("BHYVE_KVM_DEVICE", "/nonexistent")   # KVM forced where it is absent
    rom = tmp_path / "rom.bin"
    rom.write_bytes(b"\xf4" * 65536)
    # A forced KVM backend that cannot work (BHYVE_KVM_DEVICE: kvm_probe.c) fails in vm_setup.
    r = subprocess.run([prog("bhyve"), "-m", "32M", "-l", f"bootrom,{rom}",
                        "-o", "vmm.backend=kvm", vmname], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, BHYVE_KVM_DEVICE="/nonexistent"))
    assert r.returncode == 4
    assert "KVM" in one_line(r, "bhyve")
    assert not shm(vmname).exists()


def test_bhyve_unloaded_vm(vmname):
    assert run(prog("bhyvectl"), f"--vm={vmname}", "--create", "--memsize=32M").returncode == 0
    r = run(prog("bhyve"), "-m", "32M", vmname)
    assert r.returncode == 4
    assert "no kernel loaded" in one_line(r, "bhyve")
    assert shm(vmname).exists()      # not ours to remove
