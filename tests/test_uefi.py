"""UEFI with Debian's unmodified OVMF (`-l bootrom,...`, lpc.fwcfg=qemu, the default): the
firmware runs to its shell on COM1; `reset` in the shell exits 0; the single-file OVMF.fd and
CODE+VARS; a variable set in the shell is in the VARS file and reads back after a restart;
bad firmware/VARS files exit 4 with one line."""
import os
import pathlib
import shutil
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import BOOT_TIMEOUT, prog  # noqa: E402

OVMF_FD = pathlib.Path("/usr/share/ovmf/OVMF.fd")
OVMF_CODE = pathlib.Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = pathlib.Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
needs_ovmf = pytest.mark.skipif(not (OVMF_FD.exists() and OVMF_CODE.exists() and
                                     OVMF_VARS.exists()), reason="package ovmf not installed")
SHELL = "Shell> "
GUID = "3a3e5e8c-0a0b-4c3d-9e8f-112233445566"


def vm_name(tag):
    return f"uefi-{tag}-{os.getpid()}"


def destroy(name):
    subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)


def spawn(rom, name, cpus=1, extra=()):
    import pexpect
    args = ["-c", str(cpus), "-m", "512M", "-s", "0,hostbridge", "-s", "31,lpc",
            "-l", "com1,stdio", "-l", f"bootrom,{rom}", *extra, name]
    return pexpect.spawn(prog("bhyve"), args, encoding="latin-1", timeout=BOOT_TIMEOUT)


def shell_cmd(child, line):
    """Type a line at the UEFI shell and wait for the next prompt; the text in between."""
    child.send(line + "\r")
    child.expect(SHELL)
    return child.before


def reset_exit(child):
    import pexpect
    child.send("reset\r")
    child.expect(pexpect.EOF, timeout=300)
    child.close()
    return child.exitstatus


@needs_ovmf
@pytest.mark.parametrize("cpus", [1, 2])
def test_ovmf_fd_shell(cpus):
    """The single-file OVMF.fd (variables emulated in RAM: the ROM is not writable flash)
    reaches the UEFI shell; the shell's `reset` is a cold reset through 0xCF9: exit 0."""
    name = vm_name(f"fd{cpus}")
    child = spawn(OVMF_FD, name, cpus)
    try:
        child.expect("UEFI Interactive Shell")
        child.expect(SHELL)
        assert reset_exit(child) == 0
    finally:
        child.terminate(force=True)
        destroy(name)


@needs_ovmf
def test_ovmf_vars_persist(tmp_path):
    """CODE + a copy of VARS: the firmware writes its boot options into the VARS file; a
    variable set with the shell's setvar is in the file and reads back after a restart."""
    vars_fd = tmp_path / "VARS.fd"
    shutil.copy(OVMF_VARS, vars_fd)
    orig = vars_fd.read_bytes()
    name = vm_name("vars")
    rom = f"{OVMF_CODE},{vars_fd}"
    child = spawn(rom, name)
    try:
        child.expect(SHELL)
        shell_cmd(child, f"setvar BhyveTestVar -guid {GUID} -nv -bs =0x55AA")
        assert reset_exit(child) == 0
    finally:
        child.terminate(force=True)
        destroy(name)
    data = vars_fd.read_bytes()
    assert len(data) == len(orig) and data != orig
    assert "BhyveTestVar".encode("utf-16-le") in data
    child = spawn(rom, name)
    try:
        child.expect(SHELL)
        out = shell_cmd(child, f"setvar BhyveTestVar -guid {GUID}")
        assert "BhyveTestVar - 0002 Bytes" in out and "AA 55" in out, out
        assert reset_exit(child) == 0
    finally:
        child.terminate(force=True)
        destroy(name)


def run_bad(rom, tag):
    name = vm_name(tag)
    try:
        r = subprocess.run([prog("bhyve"), "-m", "64M", "-s", "0,hostbridge", "-s", "31,lpc",
                            "-l", f"bootrom,{rom}", name], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
    finally:
        destroy(name)
    assert r.returncode == 4, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bhyve: "), r.stderr
    return lines[0]


def test_bad_firmware_files(tmp_path):
    odd = tmp_path / "odd.fd"
    odd.write_bytes(b"\x90" * 5000)
    big = tmp_path / "big.fd"
    with open(big, "wb") as f:
        f.truncate(17 << 20)
    assert "multiple of 4 KiB" in run_bad(odd, "odd")
    assert "multiple of 4 KiB" in run_bad(big, "big")
    assert "No such file" in run_bad(tmp_path / "missing.fd", "missing")


@needs_ovmf
def test_bad_vars_files(tmp_path):
    odd = tmp_path / "odd_vars.fd"
    odd.write_bytes(b"\xff" * 5000)
    big = tmp_path / "big_vars.fd"
    with open(big, "wb") as f:
        f.truncate(13 << 20)     # with the 3.5 MiB CODE more than 16 MiB
    assert "multiple of 4 KiB" in run_bad(f"{OVMF_CODE},{odd}", "vodd")
    assert "multiple of 4 KiB" in run_bad(f"{OVMF_CODE},{big}", "vbig")
    assert "No such file" in run_bad(f"{OVMF_CODE},{tmp_path / 'none.fd'}", "vnone")
    # a file that cannot be opened for writing, even by root
    assert "bootvars /proc/version" in run_bad(f"{OVMF_CODE},/proc/version", "vro")


SMALL_IMAGE = pathlib.Path(__file__).resolve().parent.parent / os.environ.get(
    "BHYVE_GUEST_UEFI_SMALL", "build/guest-uefi-small") / "disk.img"
needs_small = pytest.mark.skipif(not SMALL_IMAGE.exists(),
                                 reason="no small UEFI image: run `make guest-uefi-small`")
LINUX_MARKER = r"bhyve-guest: (uefi shell|init) reached"
PROMPT = r"[#$] (\x1b\[6n)?"
EFI_GUID = "3a3e5e8c-0a0b-4c3d-9e8f-112233445566"


def boot_linux(tmp_path, name, vars_fd, uid=None, cpus=1):
    """OVMF (CODE + VARS) -> GRUB -> Linux from a GPT disk on virtio-blk, to its shell."""
    from guestlib import Guest
    disk = tmp_path / "disk.img"
    if not disk.exists():
        subprocess.run(["cp", "--sparse=always", str(SMALL_IMAGE), str(disk)], check=True)
    extra = ["-A", "-H", "-P", "-s", f"2,virtio-blk,{disk}"] + (["-U", uid] if uid else [])
    child = spawn(f"{OVMF_CODE},{vars_fd}", name, cpus, extra)
    child.expect(LINUX_MARKER)
    child.expect(PROMPT)
    return Guest(child, name)


@needs_ovmf
@needs_small
def test_uefi_linux(tmp_path):
    """Linux through the firmware: EFI boot and ACPI tables from the firmware in dmesg (no
    ACPI/APIC errors), product_uuid is -U, a variable written through efivarfs is in the VARS
    file and seen again after a restart; poweroff exits 1, reboot 0, halt 2."""
    vars_fd = tmp_path / "VARS.fd"
    shutil.copy(OVMF_VARS, vars_fd)
    uid = str(uuid.uuid4())
    name = vm_name("linux")
    g = boot_linux(tmp_path, name, vars_fd, uid)
    try:
        dmesg = g.sh("dmesg")
        assert "efi: EFI v2.70 by EDK II" in dmesg
        assert "ACPI: FACP" in dmesg and "ACPI: APIC" in dmesg and "ACPI: DSDT" in dmesg
        bad = [ln for ln in dmesg.splitlines()
               if ("ACPI" in ln or "APIC" in ln) and ("Error" in ln or "BUG" in ln or
                                                      "failed" in ln.lower())]
        assert not bad, bad
        assert g.sh("cat /sys/class/dmi/id/product_uuid").strip() == uid
        g.sh("mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null; "
             f"printf '\\007\\000\\000\\000\\125\\252' > "
             f"/sys/firmware/efi/efivars/BhyveLinuxVar-{EFI_GUID}")
        g.child.sendline("poweroff -f")
        assert g.wait_exit() == 1
    finally:
        g.destroy()
        destroy(name)
    assert "BhyveLinuxVar".encode("utf-16-le") in vars_fd.read_bytes()
    g = boot_linux(tmp_path, name, vars_fd)
    try:
        out = g.sh("mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null; "
                   f"od -An -tx1 /sys/firmware/efi/efivars/BhyveLinuxVar-{EFI_GUID}")
        assert out.split() == ["07", "00", "00", "00", "55", "aa"], out
        g.child.sendline("reboot -f")
        assert g.wait_exit() == 0
    finally:
        g.destroy()
        destroy(name)
    g = boot_linux(tmp_path, name, vars_fd, cpus=2)
    try:
        assert g.sh("grep -c ^processor /proc/cpuinfo").strip() == "2"
        g.child.sendline("halt -f")
        assert g.wait_exit() == 2
    finally:
        g.destroy()
        destroy(name)


SYSTEMD_IMAGE = pathlib.Path(__file__).resolve().parent.parent / os.environ.get(
    "BHYVE_GUEST_UEFI", "build/guest-uefi") / "disk.img"


@needs_ovmf
@pytest.mark.skipif(not SYSTEMD_IMAGE.exists(), reason="no UEFI image: run `make guest-uefi`")
def test_uefi_systemd_image(tmp_path):
    """The command line of the issue: OVMF CODE + VARS, GRUB and Debian 12 with systemd from a
    GPT disk on virtio-blk to the root shell on ttyS0; poweroff exits 1."""
    import pexpect
    disk = tmp_path / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(SYSTEMD_IMAGE), str(disk)], check=True)
    vars_fd = tmp_path / "VARS.fd"
    shutil.copy(OVMF_VARS, vars_fd)
    name = vm_name("systemd")
    child = pexpect.spawn(prog("bhyve"), [
        "-A", "-H", "-P", "-m", "1G", "-s", "0,hostbridge", "-s", f"2,virtio-blk,{disk}",
        "-s", "31,lpc", "-l", "com1,stdio", "-l", f"bootrom,{OVMF_CODE},{vars_fd}", name],
        encoding="latin-1", timeout=BOOT_TIMEOUT * 2)
    try:
        child.expect("bhyve-guest: grub reached")
        child.expect("bhyve-guest: uefi shell reached")
        child.expect(PROMPT)
        child.sendline("poweroff")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 1
    finally:
        child.terminate(force=True)
        destroy(name)
