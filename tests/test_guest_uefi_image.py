"""The UEFI disk images (make guest-uefi, make guest-uefi-small), checked without booting them:
the GPT (sfdisk), the EFI system partition's boot loader (mtools), the root file system's
kernel, initramfs drivers and autologin (debugfs).  Each check is skipped when its image has
not been built.  A reference boot under QEMU + OVMF of the small image (and, with
BHYVE_UEFI_QEMU_FULL=1, of the systemd image on virtio-blk, ahci and nvme) shows that the
images boot on the platform OVMF was made for; the bhyve boots are in the UEFI firmware tests.
"""
import gzip
import json
import os
import shutil
import struct
import subprocess

import pytest

from uefilib import (UEFI_IMAGE, UEFI_SMALL_IMAGE, boot_qemu_uefi, fresh_vars, needs_ovmf,
                     needs_qemu, needs_uefi_image, needs_uefi_small, scratch_copy)

ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_X86_64_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("sfdisk", "mdir", "mtype", "mcopy", "debugfs")),
    reason="needs fdisk, mtools and e2fsprogs")


def partitions(img):
    out = subprocess.run(["sfdisk", "--json", str(img)], capture_output=True, text=True,
                         check=True).stdout
    table = json.loads(out)["partitiontable"]
    assert table["label"] == "gpt"
    assert table.get("sectorsize", 512) == 512
    return table["partitions"]


def esp_file(img, part, path):
    """The bytes of `path` (e.g. ::/EFI/BOOT/BOOTX64.EFI) in the FAT partition `part`."""
    r = subprocess.run(["mtype", "-i", f"{img}@@{part['start'] * 512}", path],
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def check_loader(img, esp):
    """\\EFI\\BOOT\\BOOTX64.EFI: a PE32+ EFI application for x86-64 (machine 0x8664,
    subsystem 10) whose embedded grub.cfg (GRUB's memdisk, an uncompressed tar) boots Linux
    on the serial console; returns that grub.cfg text."""
    pe = esp_file(img, esp, "::/EFI/BOOT/BOOTX64.EFI")
    assert pe[:2] == b"MZ"
    off, = struct.unpack_from("<I", pe, 0x3C)
    assert pe[off:off + 4] == b"PE\0\0"
    machine, = struct.unpack_from("<H", pe, off + 4)
    magic, = struct.unpack_from("<H", pe, off + 24)
    subsystem, = struct.unpack_from("<H", pe, off + 24 + 68)
    assert (machine, magic, subsystem) == (0x8664, 0x20B, 10)
    start = pe.find(b"set timeout=0\n")
    assert start > 0, "no embedded grub.cfg"
    cfg = pe[start:pe.index(b"\0", start)].decode()
    assert "console=ttyS0" in cfg and "bhyve-guest: grub reached" in cfg
    return cfg


def debugfs(img, part, request):
    r = subprocess.run(["debugfs", "-R", request, f"{img}?offset={part['start'] * 512}"],
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def cpio_names(blob):
    """Member names of a newc cpio archive (possibly several concatenated, each padded)."""
    names, off = [], 0
    while off + 110 <= len(blob):
        if blob[off:off + 6] != b"070701":
            off += 1        # NUL padding between archives
            continue
        size = int(blob[off + 54:off + 62], 16)
        namesize = int(blob[off + 94:off + 102], 16)
        name = blob[off + 110:off + 110 + namesize - 1].decode(errors="replace")
        off += 110 + namesize
        off += -off % 4
        off += size + (-size % 4)
        if name != "TRAILER!!!":
            names.append(name)
    return names


def unpack_initramfs(data):
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    r = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True)
    return r.stdout


# ---- the systemd image ----

@needs_tools
@needs_uefi_image
def test_uefi_image_gpt():
    parts = partitions(UEFI_IMAGE)
    assert [p["type"] for p in parts] == [ESP_TYPE, ROOT_X86_64_TYPE]
    assert all(p["start"] % 2048 == 0 for p in parts)          # 1 MiB aligned
    assert parts[0]["size"] * 512 >= 32 << 20
    assert parts[1]["start"] >= parts[0]["start"] + parts[0]["size"]
    assert UEFI_IMAGE.stat().st_size >= (parts[1]["start"] + parts[1]["size"] + 33) * 512


@needs_tools
@needs_uefi_image
def test_uefi_image_loader_finds_root():
    parts = partitions(UEFI_IMAGE)
    cfg = check_loader(UEFI_IMAGE, parts[0])
    # GRUB finds the root file system by its UUID and hands the kernel its PARTUUID.
    sb = debugfs(UEFI_IMAGE, parts[1], "stats").decode()
    fsuuid = next(ln.split()[-1] for ln in sb.splitlines() if ln.startswith("Filesystem UUID"))
    assert f"--fs-uuid --set=root {fsuuid}" in cfg
    assert f"root=partuuid={parts[1]['uuid']}".lower() in cfg.lower()
    for word in cfg.split():
        if word.startswith("/boot/"):
            assert debugfs(UEFI_IMAGE, parts[1], f"stat {word}").startswith(b"Inode:"), word


@needs_tools
@needs_uefi_image
def test_uefi_image_root_logs_in_on_ttys0():
    parts = partitions(UEFI_IMAGE)
    root = parts[1]
    conf = debugfs(UEFI_IMAGE, root,
                   "cat /etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf")
    assert b"--autologin root" in conf
    shadow = debugfs(UEFI_IMAGE, root, "cat /etc/shadow").decode()
    assert any(ln.startswith("root::") for ln in shadow.splitlines()), "root has a password"
    assert b"bhyve-guest: uefi shell reached" in debugfs(UEFI_IMAGE, root, "cat /root/.profile")
    # A real systemd userland: /sbin/init is systemd, and efibootmgr is there.
    assert b"systemd" in debugfs(UEFI_IMAGE, root, "stat /usr/sbin/init")
    assert debugfs(UEFI_IMAGE, root, "stat /usr/bin/efibootmgr").startswith(b"Inode:")


@needs_tools
@needs_uefi_image
def test_uefi_image_initramfs_mounts_root_from_every_disk(tmp_path):
    parts = partitions(UEFI_IMAGE)
    boot = debugfs(UEFI_IMAGE, parts[1], "ls -p /boot").decode()
    initrd = next(f for f in (ln.split("/")[5] for ln in boot.splitlines() if ln.count("/") > 5)
                  if f.startswith("initrd.img-"))
    dump = tmp_path / "initrd"
    debugfs(UEFI_IMAGE, parts[1], f"dump /boot/{initrd} {dump}")
    names = cpio_names(unpack_initramfs(dump.read_bytes()))
    kos = {os.path.basename(n)[:-3].replace("-", "_") for n in names if n.endswith(".ko")}
    for mod in ("virtio_pci", "virtio_blk", "ahci", "nvme", "sd_mod", "ext4"):
        assert mod in kos, f"{mod} not in the initramfs"


# ---- the small image ----

@needs_tools
@needs_uefi_small
def test_uefi_small_image_esp_holds_loader_kernel_initramfs():
    parts = partitions(UEFI_SMALL_IMAGE)
    assert [p["type"] for p in parts] == [ESP_TYPE]
    cfg = check_loader(UEFI_SMALL_IMAGE, parts[0])
    assert "linux /vmlinuz" in cfg and "initrd /initrd.img" in cfg
    kernel = esp_file(UEFI_SMALL_IMAGE, parts[0], "::/vmlinuz")
    assert kernel[0x202:0x206] == b"HdrS"           # a bzImage
    initrd = unpack_initramfs(esp_file(UEFI_SMALL_IMAGE, parts[0], "::/initrd.img"))
    assert "init" in cpio_names(initrd)


# ---- reference boots under QEMU + OVMF ----

@needs_qemu
@needs_ovmf
@needs_uefi_small
def test_uefi_small_image_boots_under_qemu(tmp_path):
    disk = scratch_copy(UEFI_SMALL_IMAGE, tmp_path / "disk.img")
    g = boot_qemu_uefi(disk, "uefi-small", fresh_vars(tmp_path / "vars.fd"))
    try:
        # Booted through UEFI, and the firmware's variables are visible (init mounts efivarfs).
        assert "BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c" in g.sh(
            "ls /sys/firmware/efi/efivars")
    finally:
        g.destroy()


@pytest.mark.skipif(os.environ.get("BHYVE_UEFI_QEMU_FULL") != "1",
                    reason="long reference boot: set BHYVE_UEFI_QEMU_FULL=1")
@needs_qemu
@needs_ovmf
@needs_uefi_image
@pytest.mark.parametrize("disk_dev", ["virtio", "ahci", "nvme"])
def test_uefi_image_boots_under_qemu(tmp_path, disk_dev):
    disk = scratch_copy(UEFI_IMAGE, tmp_path / "disk.img")
    g = boot_qemu_uefi(disk, f"uefi-{disk_dev}", fresh_vars(tmp_path / "vars.fd"),
                       disk_dev=disk_dev)
    try:
        assert g.sh("findmnt -n -o FSTYPE /").strip() == "ext4"
        assert "Boot" in g.sh("efibootmgr")
    finally:
        g.destroy()
