"""Booting the UEFI disk images (make guest-uefi, make guest-uefi-small) through Debian's OVMF,
shared by tests and benchmarks.

- Images and firmware: UEFI_IMAGE (systemd root), UEFI_SMALL_IMAGE (busybox root on the ESP),
  OVMF_CODE / OVMF_VARS (split flash) and OVMF_FD (single file); skip markers for each.
- scratch_copy() / fresh_vars(): a private copy of an image (sparse) and of the VARS template,
  so that a test's writes reach neither the built image nor another test.
- start_bhyve_uefi(): our bhyve with `-l bootrom,CODE[,VARS]` and the image on a chosen disk
  device; returns a Guest (tests/guestlib.py) at once.  wait_uefi_shell() waits for the boot
  loader, the guest's marker and its prompt.  boot_bhyve_uefi() is both.
- boot_qemu_uefi(): the reference, qemu-system-x86_64 (TCG) with the same firmware and image.

Both images print a marker line when their shell is ready: the systemd image's root login on
ttyS0 prints "bhyve-guest: uefi shell reached (<kernel>, <n> cpus)", the small image's
busybox init the default guest's "bhyve-guest: init reached (...)".  GRUB prints
"bhyve-guest: grub reached" first, so a test can tell a firmware failure from a later one.
"""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from conftest import BOOT_TIMEOUT, BUILD, PROMPT, ROOT  # noqa: E402
from guestlib import Guest, prog  # noqa: E402

UEFI_IMAGE = ROOT / os.environ.get("BHYVE_GUEST_UEFI", "build/guest-uefi") / "disk.img"
UEFI_SMALL_IMAGE = ROOT / os.environ.get("BHYVE_GUEST_UEFI_SMALL",
                                         "build/guest-uefi-small") / "disk.img"
OVMF_CODE = pathlib.Path(os.environ.get("BHYVE_OVMF_CODE", "/usr/share/OVMF/OVMF_CODE_4M.fd"))
OVMF_VARS = pathlib.Path(os.environ.get("BHYVE_OVMF_VARS", "/usr/share/OVMF/OVMF_VARS_4M.fd"))
OVMF_FD = pathlib.Path(os.environ.get("BHYVE_OVMF_FD", "/usr/share/ovmf/OVMF.fd"))

GRUB_MARKER = "bhyve-guest: grub reached"
UEFI_MARKER = r"bhyve-guest: (uefi shell|init) reached"

needs_ovmf = pytest.mark.skipif(not (OVMF_CODE.exists() and OVMF_VARS.exists()),
                                reason="no OVMF: apt-get install ovmf")
needs_uefi_image = pytest.mark.skipif(not UEFI_IMAGE.exists(),
                                      reason="no UEFI image: run `make guest-uefi`")
needs_uefi_small = pytest.mark.skipif(not UEFI_SMALL_IMAGE.exists(),
                                      reason="no small UEFI image: run `make guest-uefi-small`")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                                reason="no qemu-system-x86_64")


def scratch_copy(src, dst):
    """Copy a (sparse) disk image to dst, keeping it sparse; returns dst as a string."""
    subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(src), str(dst)], check=True)
    return str(dst)


def fresh_vars(dst, template=OVMF_VARS):
    """A writable copy of OVMF's empty variable store; returns dst as a string."""
    shutil.copyfile(template, dst)
    return str(dst)


def _spawn(argv, log, timeout):
    import pexpect
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                          timeout=timeout, dimensions=(50, 250))
    child.logfile_read = open(log, "a")
    return child


def start_bhyve_uefi(disk, tag, vars_=None, code=OVMF_CODE, mem="1G", ncpus=1,
                     disk_dev="virtio-blk", extra=(), build=None, log=None,
                     timeout=BOOT_TIMEOUT, name=None):
    """Start our bhyve booting `disk` through firmware `code` (with variable store `vars_`,
    or none for a single-file firmware such as OVMF_FD): -A -H -P, hostbridge at slot 0, the
    disk at slot 2 as `disk_dev` (virtio-blk, ahci-hd, nvme...), lpc at 31, com1 on stdio,
    then `extra`.  Returns a Guest without waiting; pass the same `name` to start the VM
    again after a reboot.  The console is appended to `log` (default build/NAME.console.log).
    """
    name = name or f"vt-{tag}-{os.getpid()}"
    rom = f"bootrom,{code}" + (f",{vars_}" if vars_ else "")
    argv = [prog("bhyve", build), "-A", "-H", "-P", "-c", str(ncpus), "-m", mem,
            "-s", "0,hostbridge", "-s", f"2,{disk_dev},{disk}", "-s", "31,lpc",
            "-l", "com1,stdio", "-l", rom] + list(extra) + [name]
    log = log or pathlib.Path(build or BUILD) / f"{name}.console.log"
    return Guest(_spawn(argv, log, timeout), name, build)


def wait_uefi_shell(g, timeout=BOOT_TIMEOUT):
    """Wait for GRUB's line, the guest's shell marker and prompt (the VM is removed if one
    does not come), then keep kernel messages off the console."""
    try:
        g.child.expect(GRUB_MARKER, timeout=timeout)
        g.child.expect(UEFI_MARKER, timeout=timeout)
        g.child.expect(PROMPT, timeout=300)
        g.sh("dmesg -n 1", timeout=300)
    except Exception:
        g.destroy()
        raise
    return g


def boot_bhyve_uefi(disk, tag, vars_=None, timeout=BOOT_TIMEOUT, **kw):
    """start_bhyve_uefi() + wait_uefi_shell(): a Guest at its shell prompt."""
    return wait_uefi_shell(start_bhyve_uefi(disk, tag, vars_, timeout=timeout, **kw), timeout)


def qemu_uefi_argv(disk, vars_=None, code=OVMF_CODE, mem="1G", ncpus=1, disk_dev="virtio"):
    """qemu-system-x86_64 (TCG) with the same firmware (CODE read-only flash + VARS writable
    flash, or a single-file firmware as -bios) and `disk` on virtio, ahci or nvme."""
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", mem, "-smp", str(ncpus),
            "-nographic", "-no-reboot"]
    if vars_:
        argv += ["-drive", f"if=pflash,format=raw,readonly=on,file={code}",
                 "-drive", f"if=pflash,format=raw,file={vars_}"]
    else:
        argv += ["-bios", str(code)]
    drive = f"file={disk},format=raw"
    if disk_dev == "virtio":
        argv += ["-drive", f"{drive},if=virtio"]
    elif disk_dev == "ahci":
        argv += ["-device", "ahci,id=ahci0", "-drive", f"{drive},if=none,id=d0",
                 "-device", "ide-hd,drive=d0,bus=ahci0.0"]
    elif disk_dev == "nvme":
        argv += ["-drive", f"{drive},if=none,id=d0", "-device", "nvme,drive=d0,serial=bhyve0"]
    else:
        raise ValueError(disk_dev)
    return argv


def boot_qemu_uefi(disk, tag, vars_=None, timeout=BOOT_TIMEOUT, log=None, **kw):
    """The reference boot under QEMU; a Guest at its shell prompt."""
    log = log or pathlib.Path(BUILD) / f"qemu-{tag}-{os.getpid()}.console.log"
    argv = qemu_uefi_argv(disk, vars_, **kw)
    return wait_uefi_shell(Guest(_spawn(argv, log, timeout)), timeout)
