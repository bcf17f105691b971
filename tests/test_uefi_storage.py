"""Debian's OVMF boots from the storage controllers bhyve VMs boot from: the small UEFI disk
image (GPT, EFI system partition with GRUB, kernel and initramfs) on `ahci-hd` and on `nvme`,
and a bootable ISO 9660 image (El Torito, EFI platform, the same partition as its boot image)
on `ahci-cd`.  Each VM has that one disk only, so GRUB's line on the console means the
firmware's own AHCI/ATAPI or NVMe driver read the boot loader through our device model, and
the guest's shell marker means GRUB read the kernel and initramfs the same way."""
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from uefilib import (UEFI_SMALL_IMAGE, boot_bhyve_uefi, fresh_vars, needs_ovmf,  # noqa: E402
                     needs_uefi_small, scratch_copy)

pytestmark = [needs_ovmf, needs_uefi_small]


ROOT = pathlib.Path(__file__).resolve().parent.parent
GUEST = ROOT / "build" / "guest"

CD_GRUB_CFG = """set timeout=0
echo "bhyve-guest: grub reached"
search --no-floppy --file --set=root /vmlinuz
linux /vmlinuz console=ttyS0
initrd /initrd.img
boot
"""


def make_boot_iso(d):
    """A UEFI-bootable ISO 9660 image: El Torito with an EFI boot image (a small FAT image
    holding \\EFI\\BOOT\\BOOTX64.EFI, a standalone GRUB with the iso9660 module) and the
    default guest's kernel and initramfs as files of the ISO, which GRUB reads from it."""
    for t in ("xorriso", "grub-mkstandalone", "mkfs.vfat", "mcopy"):
        if not shutil.which(t):
            pytest.skip(f"needs {t}")
    tree = d / "iso"
    tree.mkdir()
    (d / "grub.cfg").write_text(CD_GRUB_CFG)
    subprocess.run(["sh", "-c", f'. "{ROOT}/guest/uefi-disk.sh"; '
                    f'uefi_grub "{d}/grub.cfg" "{d}/BOOTX64.EFI" iso9660'],
                   check=True, capture_output=True)
    img = tree / "efiboot.img"
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.vfat", "-n", "EFIBOOT", str(img)], check=True, capture_output=True)
    subprocess.run(["mmd", "-i", str(img), "::/EFI", "::/EFI/BOOT"], check=True)
    subprocess.run(["mcopy", "-i", str(img), str(d / "BOOTX64.EFI"), "::/EFI/BOOT/BOOTX64.EFI"],
                   check=True)
    for f in ("vmlinuz", "initrd.img"):
        shutil.copy(GUEST / f, tree / f)
    iso = d / "boot.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", str(iso),
                    "-e", "efiboot.img", "-no-emul-boot", str(tree)],
                   check=True, capture_output=True)
    return str(iso)


@pytest.mark.parametrize("dev", ["ahci-hd", "nvme", "ahci-cd"])
def test_uefi_boots_from(tmp_path, dev):
    if dev == "ahci-cd":
        disk = make_boot_iso(tmp_path)
    else:
        disk = scratch_copy(UEFI_SMALL_IMAGE, tmp_path / "disk.img")
    g = boot_bhyve_uefi(disk, f"uefi-{dev.replace('-', '')}",
                        vars_=fresh_vars(tmp_path / "VARS.fd"), disk_dev=dev)
    try:
        assert g.sh("cat /proc/cmdline").split()[-1] == "console=ttyS0"
        assert "efi" in g.sh("ls /sys/firmware").split()       # booted through UEFI
    finally:
        g.destroy()
