"""The AHCI and NVMe controllers seen by Debian's generic kernel (its own ahci and
nvme drivers; `make guest-generic`).

One module-scoped guest per controller kind carries several disks (each boot of the software
CPU is slow); the images are compared byte for byte by the host after the guest powers off
(the last test of each).  The pattern is the virtio-blk test's (tests/guestlib.py): a
non-repeating pattern over the whole disk.  Disk sizes tell the disks apart in the guest.

- AHCI: `ahci-hd` with 256 MiB; an `ahci` port list with two read-write disks, a `ro` disk and a
  disk that the guest discards (blkdiscard: the host sees holes).
- ATAPI: `ahci-cd` with an ISO 9660 image made by xorriso (random files and a static `eject`
  program, since busybox has none): the guest mounts it, reads every file back identical, and
  ejects the medium (with the kernel's autoclose off, the drive then reports no medium).
- NVMe: `nvme` with 256 MiB (sectsz=512) and with sectsz=4096; a `ro` namespace; a namespace
  that the guest deallocates (blkdiscard); `ram=` namespaces.
- A synced write survives SIGKILL of bhyve (AHCI and NVMe in one guest).

Needs `make guest-generic`; skipped without it.  BHYVE_BOOT_TIMEOUT bounds each boot.
"""
import hashlib
import os
import shutil
import signal
import subprocess

import pytest

from conftest import BOOT_TIMEOUT, ROOT
from guestlib import (GUEST_MKPAT, MIB, boot_bhyve, chunk, disk_by_mib, guest_write_chunks,
                      image_mismatches, make_image, sha)

pexpect = pytest.importorskip("pexpect")

GENERIC = ROOT / os.environ.get("BHYVE_GUEST_GENERIC_DIR", "build/guest-generic")
TIMEOUT = BOOT_TIMEOUT

pytestmark = pytest.mark.skipif(not (GENERIC / "vmlinuz").exists(),
                                reason="no generic guest: run `make guest-generic`")

# AHCI disk sizes (MiB), each unique in its guest.
A_HD, A_P0, A_P1, A_RO, A_TRIM = 256, 64, 48, 8, 16
DUR_MIB = 24
# NVMe namespace sizes (MiB).
N_512, N_4K, N_RO, N_TRIM, N_RAM = 256, 64, 8, 16, 32
DUR_N_MIB = 40


EJECT_C = r"""
#include <fcntl.h>
#include <linux/cdrom.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int fd = open(argv[1], O_RDONLY | O_NONBLOCK);
	int req = argc > 2 && !strcmp(argv[2], "close") ? CDROMCLOSETRAY : CDROMEJECT;
	if (fd < 0 || ioctl(fd, req, 0) < 0) {
		perror("eject");
		return 1;
	}
	return 0;
}
"""


def make_iso(d):
    """An ISO 9660 (Rock Ridge) image of a few files; their md5 by name."""
    if not shutil.which("xorriso"):
        pytest.skip("needs xorriso")
    src = d / "iso"
    (src / "sub").mkdir(parents=True)
    (d / "eject.c").write_text(EJECT_C)
    subprocess.run(["gcc", "-static", "-Os", "-o", str(src / "eject"), str(d / "eject.c")],
                   check=True)
    (src / "big.bin").write_bytes(os.urandom(3 * MIB + 123))
    (src / "sub" / "small.txt").write_bytes(b"hello from the ISO\n")
    (src / "sub" / "odd.bin").write_bytes(os.urandom(2048 * 5 + 7))
    iso = d / "t.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", str(iso), str(src)],
                   check=True, capture_output=True)
    sums = {}
    for f in ("big.bin", "eject", "sub/small.txt", "sub/odd.bin"):
        sums[f] = hashlib.md5((src / f).read_bytes()).hexdigest()
    return str(iso), sums


def boot(args, tag):
    return boot_bhyve(args, tag, kernel=GENERIC / "vmlinuz", initrd=GENERIC / "initrd.img")


def write_pattern(g, dev, mib):
    """The guest writes the pattern over the whole disk and syncs."""
    assert g.sh(GUEST_MKPAT).strip() == str(MIB)
    out = g.sh(guest_write_chunks(dev, 0, mib), timeout=TIMEOUT)
    assert "WRITE-FAILED" not in out and "WROTE" in out, out
    # Read back a chunk through the guest, bypassing its page cache.
    j = mib // 3
    got = g.sh(f"dd if={dev} bs=1M skip={j} count=1 iflag=direct 2>/dev/null | md5sum")
    assert got.split()[0] == hashlib.md5(chunk(j)).hexdigest(), (j, got)


def check_ro(g, dev):
    assert g.sh(f"cat /sys/block/{dev[5:]}/ro").strip() in ("0", "1")
    out = g.sh(f"dd if=/dev/zero of={dev} bs=4k count=4 oflag=direct conv=fsync 2>&1; "
               f"echo rc=$?", timeout=TIMEOUT)
    assert "rc=0" not in out, out
    got = g.sh(f"dd if={dev} bs=8 count=1 iflag=direct 2>/dev/null")
    assert "RO-DATA!" in got, got


def allocated(path):
    return os.stat(path).st_blocks * 512


@pytest.fixture(scope="module")
def ahci(tmp_path_factory):
    d = tmp_path_factory.mktemp("ahci")
    imgs = {
        "hd": make_image(d / "hd.img", A_HD),
        "p0": make_image(d / "p0.img", A_P0),
        "p1": make_image(d / "p1.img", A_P1),
        "ro": make_image(d / "ro.img", A_RO, fill=b"RO-DATA!"),
        "trim": make_image(d / "trim.img", A_TRIM, fill=b"TRIMME!!"),
    }
    iso, sums = make_iso(d)
    args = ["-s", f"3,ahci-hd,{imgs['hd']}",
            "-s", f"4,ahci,hd:{imgs['p0']},hd:{imgs['p1']},hd:{imgs['ro']},ro,"
                  f"hd:{imgs['trim']}",
            "-s", f"5,ahci-cd,{iso}"]
    ro_sha, iso_sha = sha(imgs["ro"]), sha(iso)
    g = boot(args, "ahci")
    g.imgs, g.ro_sha, g.iso, g.iso_sha, g.sums = imgs, ro_sha, iso, iso_sha, sums
    yield g
    g.destroy()


def test_ahci_driver(ahci):
    """Linux's ahci driver owns both controllers, with NCQ, over MSI."""
    out = ahci.sh("for d in /sys/bus/pci/drivers/ahci/0000:*; do echo ${d##*/}; done; "
                  "grep -c . /sys/class/ata_port/*/port_no 2>/dev/null | wc -l; "
                  "grep ahci /proc/interrupts")
    assert "0000:00:03.0" in out and "0000:00:04.0" in out, out
    assert "PCI-MSI" in out, out
    dev = disk_by_mib(ahci, "sd", A_HD)[5:]
    assert ahci.sh(f"cat /sys/block/{dev}/device/queue_depth").strip() == "32"
    assert "BHYVE SATA DISK" in ahci.sh(f"cat /sys/block/{dev}/device/model")


def test_ahci_hd_pattern_256mib(ahci):
    write_pattern(ahci, disk_by_mib(ahci, "sd", A_HD), A_HD)


def test_ahci_port_list_two_disks(ahci):
    for mib in (A_P0, A_P1):
        write_pattern(ahci, disk_by_mib(ahci, "sd", mib), mib)


def test_ahci_ro(ahci):
    check_ro(ahci, disk_by_mib(ahci, "sd", A_RO))


def test_ahci_discard(ahci):
    """blkdiscard over the whole disk: the host file becomes holes (checked on poweroff)."""
    dev = disk_by_mib(ahci, "sd", A_TRIM)
    assert int(ahci.sh(f"cat /sys/block/{dev[5:]}/queue/discard_max_bytes")) > 0
    out = ahci.sh(f"blkdiscard {dev}; echo rc=$?", timeout=TIMEOUT)
    assert "rc=0" in out, out


def test_ahci_cd_iso(ahci):
    """The ISO mounts (isofs on sr0) and every file reads back identical."""
    out = ahci.sh("cat /sys/block/sr0/device/model; mkdir -p /mnt/cd; "
                  "mount -t iso9660 -o ro /dev/sr0 /mnt/cd; echo rc=$?", timeout=TIMEOUT)
    assert "BHYVE DVD-ROM" in out and "rc=0" in out, out
    for f, want in ahci.sums.items():
        got = ahci.sh(f"md5sum /mnt/cd/{f}", timeout=TIMEOUT)
        assert got.split()[0] == want, (f, got)
    out = ahci.sh("cp /mnt/cd/eject /tmp/eject; umount /mnt/cd; echo rc=$?")
    assert "rc=0" in out, out


def test_ahci_cd_eject(ahci):
    """Eject takes the medium away (no autoclose on open); closing the tray brings it back."""
    out = ahci.sh("echo 0 > /proc/sys/dev/cdrom/autoclose; /tmp/eject /dev/sr0; echo rc=$?; "
                  "dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>&1; echo dd=$?")
    assert "rc=0" in out and "dd=0" not in out, out
    out = ahci.sh("/tmp/eject /dev/sr0 close; echo rc=$?; "
                  "dd if=/dev/sr0 bs=2048 skip=16 count=1 2>/dev/null | head -c 6 | tail -c 5")
    assert "rc=0" in out and "CD001" in out, out


def test_zz_ahci_poweroff_and_images(ahci):
    ahci.child.sendline("sync; poweroff -f")
    assert ahci.wait_exit() == 1
    for key, mib in (("hd", A_HD), ("p0", A_P0), ("p1", A_P1)):
        bad = image_mismatches(ahci.imgs[key], mib)
        assert bad == [], f"{key}: {len(bad)} wrong MiB chunks, first {bad[:8]}"
        assert os.path.getsize(ahci.imgs[key]) == mib * MIB
    assert sha(ahci.imgs["ro"]) == ahci.ro_sha
    assert sha(ahci.iso) == ahci.iso_sha
    trim = ahci.imgs["trim"]
    assert os.path.getsize(trim) == A_TRIM * MIB
    assert allocated(trim) < A_TRIM * MIB // 8, allocated(trim)
    with open(trim, "rb") as f:
        assert f.read() == bytes(A_TRIM * MIB)


@pytest.fixture(scope="module")
def nvme(tmp_path_factory):
    d = tmp_path_factory.mktemp("nvme")
    imgs = {
        "n512": make_image(d / "n512.img", N_512),
        "n4k": make_image(d / "n4k.img", N_4K),
        "ro": make_image(d / "ro.img", N_RO, fill=b"RO-DATA!"),
        "trim": make_image(d / "trim.img", N_TRIM, fill=b"TRIMME!!"),
    }
    args = ["-s", f"3,nvme,{imgs['n512']},sectsz=512,ser=BHYVETEST512",
            "-s", f"4,nvme,{imgs['n4k']},sectsz=4096,maxq=2,qsz=64",
            "-s", f"5,nvme,{imgs['ro']},ro",
            "-s", f"6,nvme,{imgs['trim']},dsm=enable",
            "-s", f"7,nvme,ram={N_RAM}"]
    ro_sha = sha(imgs["ro"])
    g = boot(args, "nvme")
    g.imgs, g.ro_sha = imgs, ro_sha
    yield g
    g.destroy()


def test_nvme_driver(nvme):
    """Linux's nvme driver owns each controller, with MSI-X vectors per queue."""
    out = nvme.sh("ls /sys/bus/pci/drivers/nvme; grep nvme /proc/interrupts")
    for slot in range(3, 8):
        assert f"0000:00:0{slot}.0" in out, out
    assert "nvme0q1" in out or "nvme1q1" in out, out
    dev = disk_by_mib(nvme, "nvme", N_512)[5:]
    ctrl = dev.split("n")[0] + "n" + dev.split("n")[1]
    assert nvme.sh(f"cat /sys/class/nvme/{ctrl}/serial").strip() == "BHYVETEST512"


def test_nvme_pattern_512(nvme):
    dev = disk_by_mib(nvme, "nvme", N_512)
    assert nvme.sh(f"cat /sys/block/{dev[5:]}/queue/logical_block_size").strip() == "512"
    write_pattern(nvme, dev, N_512)


def test_nvme_pattern_4096(nvme):
    dev = disk_by_mib(nvme, "nvme", N_4K)
    assert nvme.sh(f"cat /sys/block/{dev[5:]}/queue/logical_block_size").strip() == "4096"
    write_pattern(nvme, dev, N_4K)


def test_nvme_ro(nvme):
    check_ro(nvme, disk_by_mib(nvme, "nvme", N_RO))


def test_nvme_discard(nvme):
    dev = disk_by_mib(nvme, "nvme", N_TRIM)
    assert int(nvme.sh(f"cat /sys/block/{dev[5:]}/queue/discard_max_bytes")) > 0
    out = nvme.sh(f"blkdiscard {dev}; echo rc=$?", timeout=TIMEOUT)
    assert "rc=0" in out, out


def test_nvme_ram(nvme):
    """A RAM namespace keeps what is written while the VM runs."""
    dev = disk_by_mib(nvme, "nvme", N_RAM)
    assert nvme.sh(GUEST_MKPAT).strip() == str(MIB)
    out = nvme.sh(guest_write_chunks(dev, 0, 4), timeout=TIMEOUT)
    assert "WROTE" in out and "WRITE-FAILED" not in out, out
    got = nvme.sh(f"dd if={dev} bs=1M skip=3 count=1 iflag=direct 2>/dev/null | md5sum")
    assert got.split()[0] == hashlib.md5(chunk(3)).hexdigest(), got


def test_zz_nvme_poweroff_and_images(nvme):
    nvme.child.sendline("sync; poweroff -f")
    assert nvme.wait_exit() == 1
    for key, mib in (("n512", N_512), ("n4k", N_4K)):
        bad = image_mismatches(nvme.imgs[key], mib)
        assert bad == [], f"{key}: {len(bad)} wrong MiB chunks, first {bad[:8]}"
        assert os.path.getsize(nvme.imgs[key]) == mib * MIB
    assert sha(nvme.imgs["ro"]) == nvme.ro_sha
    trim = nvme.imgs["trim"]
    assert allocated(trim) < N_TRIM * MIB // 8, allocated(trim)
    with open(trim, "rb") as f:
        assert f.read() == bytes(N_TRIM * MIB)


def test_durable_after_sigkill(tmp_path):
    """Written + synced in the guest on ahci and on nvme, then bhyve is SIGKILLed: the data
    is on both images."""
    a = make_image(tmp_path / "a.img", DUR_MIB)
    n = make_image(tmp_path / "n.img", DUR_N_MIB)
    g = boot(["-s", f"3,ahci-hd,{a}", "-s", f"4,nvme,{n}"], "dur")
    try:
        write_pattern(g, disk_by_mib(g, "sd", DUR_MIB), DUR_MIB)
        write_pattern(g, disk_by_mib(g, "nvme", DUR_N_MIB), DUR_N_MIB)
        g.child.kill(signal.SIGKILL)
        g.child.expect(pexpect.EOF, timeout=60)
        g.child.close()
        assert g.child.signalstatus == signal.SIGKILL
    finally:
        g.destroy()
    assert image_mismatches(a, DUR_MIB) == []
    assert image_mismatches(n, DUR_N_MIB) == []
