"""The virtio devices seen from inside the default Debian guest (busybox initramfs).

One module-scoped guest carries several devices (each boot of the software CPU is slow):
virtio-blk (read-write 256 MiB, `ro`, `sectorsize=4096`), virtio-rnd, virtio-console and
virtio-scsi.  The checks share it; the block and SCSI images are checked byte for byte by the
host after the guest powers off (the last test).  A second, smaller boot checks that data the
guest wrote and synced is on the image even when bhyve is SIGKILLed.  A boot without -A and
with pci=nomsi (a kernel that reads the MP table) shows virtio interrupts arriving as INTx
through the MP table's PCI routing.  A module-scoped network guest (root with /dev/net/tun
only) puts virtio-net on a tap in a private network namespace: MAC and MTU, pings both ways,
and 64 MiB over TCP each way with md5 on both ends (host peer: tests/guestlib.py).
Guests boot with -A (but the INTx one) so that `poweroff -f` powers off (bhyve exits 1).

Needs `make guest`; skipped without it.  BHYVE_BOOT_TIMEOUT (seconds, default 900) bounds
each boot.
"""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import BOOT_TIMEOUT, needs_guest
from guestlib import (GUEST_MKPAT, MIB, NetNs, boot_bhyve as boot, chunk, disk_by_mib,
                      guest_write_chunks, image_mismatches, make_image, net_ok, peer_result, sha)
from test_boot import mp_guest

pexpect = pytest.importorskip("pexpect")

TIMEOUT = BOOT_TIMEOUT

pytestmark = needs_guest

# Disk sizes double as the guest's way to tell the disks apart (/sys/block/*/size).
RW_MIB, RO_MIB, SS4K_MIB, SCSI_MIB, DUR_MIB = 256, 8, 16, 64, 24

@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    d = tmp_path_factory.mktemp("vt")
    imgs = {
        "rw": make_image(d / "rw.img", RW_MIB),
        "ro": make_image(d / "ro.img", RO_MIB, fill=b"RO-DATA!"),
        "ss": make_image(d / "ss.img", SS4K_MIB),
        "scsi": make_image(d / "scsi.img", SCSI_MIB),
    }
    sock = str(d / "c1.sock")
    args = ["-s", f"2,virtio-blk,{imgs['rw']}",
            "-s", f"3,virtio-blk,{imgs['ro']},ro",
            "-s", f"4,virtio-blk,{imgs['ss']},sectorsize=4096",
            "-s", "5,virtio-rnd",
            "-s", f"6,virtio-console,c1={sock}",
            "-s", f"7,virtio-scsi,{imgs['scsi']}"]
    ro_sha = sha(imgs["ro"])
    g = boot(args, "multi")
    g.imgs, g.sock, g.ro_sha = imgs, sock, ro_sha
    yield g
    g.destroy()


def test_blk_pattern_256mib(vm):
    """The guest writes a pattern over the whole 256 MiB disk and syncs; checked on poweroff."""
    dev = disk_by_mib(vm, "vd", RW_MIB)
    assert vm.sh(GUEST_MKPAT).strip() == str(MIB)
    t0 = time.monotonic()
    out = vm.sh(guest_write_chunks(dev, 0, RW_MIB), timeout=TIMEOUT)
    print(f"guest wrote {RW_MIB} MiB in {time.monotonic() - t0:.1f} s")
    assert "WRITE-FAILED" not in out and "WROTE" in out, out
    # Read back a few chunks through the guest (O_DIRECT so they come from the device).
    for j in (0, 77, RW_MIB - 1):
        got = vm.sh(f"dd if={dev} bs=1M skip={j} count=1 iflag=direct 2>/dev/null | md5sum")
        assert got.split()[0] == hashlib.md5(chunk(j)).hexdigest(), (j, got)


def test_blk_ro(vm):
    """A write to the `ro` disk fails in the guest; the image is unchanged (checked on exit)."""
    dev = disk_by_mib(vm, "vd", RO_MIB)
    assert vm.sh(f"cat /sys/block/{dev[5:]}/ro").strip() == "1"
    out = vm.sh(f"dd if=/dev/zero of={dev} bs=4k count=4 oflag=direct conv=fsync 2>&1; "
                f"echo rc=$?")
    assert "rc=0" not in out, out
    assert any(s in out for s in ("Read-only", "Operation not permitted", "I/O error")), out
    got = vm.sh(f"dd if={dev} bs=8 count=1 2>/dev/null")
    assert "RO-DATA!" in got


def test_blk_sectorsize_4096(vm):
    dev = disk_by_mib(vm, "vd", SS4K_MIB)[5:]
    assert vm.sh(f"cat /sys/block/{dev}/queue/logical_block_size").strip() == "4096"
    assert vm.sh(f"cat /sys/block/{dev}/queue/physical_block_size").strip() == "4096"


def test_rnd_1mib(vm):
    assert vm.sh("cat /sys/class/misc/hw_random/rng_current").strip().startswith("virtio_rng")
    out = vm.sh("dd if=/dev/hwrng bs=64k count=16 iflag=fullblock 2>/dev/null | wc -c; "
                "dd if=/dev/hwrng bs=4k count=1 2>/dev/null | md5sum; "
                "dd if=/dev/hwrng bs=4k count=1 2>/dev/null | md5sum", timeout=TIMEOUT)
    lines = out.split("\n")
    assert lines[0].strip() == "1048576", out
    assert lines[1].split()[0] != lines[2].split()[0], out


def test_console_both_ways(vm):
    port = vm.sh("for d in /sys/class/virtio-ports/*; do "
                 "[ \"$(cat $d/name)\" = c1 ] && echo /dev/${d##*/}; done").strip()
    assert port.startswith("/dev/vport"), port
    cl = socket.socket(socket.AF_UNIX)
    cl.connect(vm.sock)
    try:
        # Until the emulator has accepted the connection, what the guest writes is dropped
        # (as bhyve does with no client): write again until a copy arrives.
        got = b""
        end = time.monotonic() + 300
        while b"guest-to-host-4711\n" not in got:
            assert time.monotonic() < end, f"nothing from the guest: {got!r}"
            vm.sh(f"echo guest-to-host-4711 > {port}")
            cl.settimeout(5)
            try:
                while b"guest-to-host-4711\n" not in got:
                    data = cl.recv(4096)
                    assert data, f"socket closed after {got!r}"
                    got += data
            except socket.timeout:
                pass
        cl.settimeout(120)
        cl.sendall(b"host-to-guest-0815\n")
        out = vm.sh(f"timeout 60 head -n 1 {port}")
        assert "host-to-guest-0815" in out, out
    finally:
        cl.close()


def test_scsi_lun(vm):
    out = vm.sh("cat /sys/block/sd*/device/vendor /sys/block/sd*/device/model 2>&1; "
                "ls /sys/block")
    dev = disk_by_mib(vm, "sd", SCSI_MIB)
    assert vm.sh(GUEST_MKPAT).strip() == str(MIB)
    # The block test's pattern over the whole LUN; every byte is checked on poweroff.
    res = vm.sh(guest_write_chunks(dev, 0, SCSI_MIB), timeout=TIMEOUT)
    assert "WRITE-FAILED" not in res and "WROTE" in res, (out, res)


def test_zz_poweroff_and_images(vm):
    """Last: power off, then check the images byte for byte."""
    vm.child.sendline("sync; poweroff -f")
    assert vm.wait_exit() == 1
    bad = image_mismatches(vm.imgs["rw"], RW_MIB)
    assert bad == [], f"{len(bad)} wrong MiB chunks in the rw image, first {bad[:8]}"
    assert os.path.getsize(vm.imgs["rw"]) == RW_MIB * MIB
    assert sha(vm.imgs["ro"]) == vm.ro_sha
    bad = image_mismatches(vm.imgs["scsi"], SCSI_MIB)
    assert bad == [], f"{len(bad)} wrong MiB chunks in the SCSI image, first {bad[:8]}"
    assert os.path.getsize(vm.imgs["scsi"]) == SCSI_MIB * MIB
    assert not os.path.exists(vm.sock)


def test_blk_durable_after_sigkill(tmp_path):
    """Written + synced in the guest, then bhyve is SIGKILLed: the data is on the image."""
    img = make_image(tmp_path / "dur.img", DUR_MIB)
    g = boot(["-s", f"2,virtio-blk,{img}"], "dur")
    try:
        dev = disk_by_mib(g, "vd", DUR_MIB)
        assert g.sh(GUEST_MKPAT).strip() == str(MIB)
        out = g.sh(guest_write_chunks(dev, 0, DUR_MIB), timeout=TIMEOUT)
        assert "WRITE-FAILED" not in out and "WROTE" in out, out
        g.child.kill(signal.SIGKILL)
        g.child.expect(pexpect.EOF, timeout=60)
        g.child.close()
        assert g.child.signalstatus == signal.SIGKILL
    finally:
        g.destroy()
    assert image_mismatches(img, DUR_MIB) == []


def test_intx_via_mptable_without_acpi(tmp_path):
    """No -A: no ACPI tables, so Linux takes the IOAPIC and the PCI interrupt routing from the
    MP table; with pci=nomsi the virtio devices must interrupt through INTx (IOAPIC pins).
    Needs a kernel that reads the MP table (test_boot.mp_guest)."""
    guest = mp_guest()
    img = make_image(tmp_path / "intx.img", 8, fill=b"INTX-OK!")
    g = boot(["-s", f"2,virtio-blk,{img}", "-s", "3,virtio-rnd"], "intx", acpi=False,
             cmdline="console=ttyS0 pci=nomsi", kernel=guest / "vmlinuz",
             initrd=guest / "initrd.img")
    try:
        assert g.sh("ls /sys/firmware/acpi/tables 2>&1 | head -1").strip() != "DSDT"
        irqs = g.sh("grep virtio /proc/interrupts")
        assert "IO-APIC" in irqs and "MSI" not in irqs, irqs
        out = g.sh("dd if=/dev/vda bs=4k count=1 skip=1000 iflag=direct 2>/dev/null | "
                   "head -c 8; echo; dd if=/dev/hwrng bs=4k count=16 iflag=fullblock "
                   "2>/dev/null | wc -c", timeout=TIMEOUT)
        assert out.split() == ["INTX-OK!", str(64 * 1024)], out
        after = g.sh("grep virtio /proc/interrupts")
        counts = [sum(int(w) for w in line.split()[1:2]) for line in after.split("\n")
                  if "virtio" in line]
        assert counts and all(c > 0 for c in counts), after
    finally:
        g.destroy()


# ---- virtio-net on a tap in a private network namespace (root, /dev/net/tun) ----
NET_MAC, NET_MTU = "58:9c:fc:00:00:42", 1400
HOST_IP, GUEST_IP = "10.9.9.1", "10.9.9.2"
TCP_MIB = 64


@pytest.fixture(scope="module")
def netvm():
    if not net_ok():
        pytest.skip("needs root, /dev/net/tun and ip netns")
    ns = NetNs(f"vtnet{os.getpid()}")
    g = None
    try:
        g = boot(["-s", f"2,virtio-net,tap7,mac={NET_MAC},mtu={NET_MTU}"], "net",
                 prefix=ns.prefix())
        ns.host_addr("tap7", f"{HOST_IP}/24")
        assert "rc=0" in g.sh(f"ip link set eth0 up && ip addr add {GUEST_IP}/24 dev eth0; "
                              f"echo rc=$?")
        g.ns = ns
        yield g
        g.child.sendline("sync; poweroff -f")
        assert g.wait_exit() == 1
    finally:
        if g:
            g.destroy()
        ns.close()


def test_net_ping_mac_mtu(netvm):
    """MAC and MTU seen in the guest are the options; it pings the host and back."""
    out = netvm.sh("cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu")
    assert out.split() == [NET_MAC, str(NET_MTU)], out
    out = netvm.sh(f"ping -c 3 -W 10 {HOST_IP} 2>&1 | tail -2")
    assert "3 packets received" in out, out
    out = netvm.sh(f"ping -c 2 -W 10 -s 1300 {HOST_IP} 2>&1 | tail -2")
    assert "2 packets received" in out, out
    ping = [shutil.which("ping")] if shutil.which("ping") else \
        [shutil.which("busybox"), "ping"]
    host = subprocess.run(netvm.ns.prefix() + ping + ["-c", "2", "-W", "10", GUEST_IP],
                          capture_output=True, text=True)
    assert host.returncode == 0, host.stdout + host.stderr


def test_net_tcp_64mib_each_way(netvm):
    """64 MiB host -> guest over TCP (busybox nc), then the same bytes back guest -> host;
    md5 on both sides of each transfer must agree with what was sent."""
    n = TCP_MIB * MIB
    send = netvm.ns.peer("send", HOST_IP, 5001, n, seed=4711)
    t0 = time.monotonic()
    out = netvm.sh(f"nc {HOST_IP} 5001 </dev/null >/tmp/r; echo rc=$?; wc -c </tmp/r; "
                   f"md5sum /tmp/r", timeout=TIMEOUT)
    t1 = time.monotonic()
    sent = peer_result(send, 60)
    words = out.split()
    assert words[:2] == ["rc=0", str(n)], out
    assert sent == (n, words[2]), (sent, out)
    recv = netvm.ns.peer("recv", HOST_IP, 5002)
    t2 = time.monotonic()
    out = netvm.sh(f"nc {HOST_IP} 5002 </tmp/r; echo rc=$?", timeout=TIMEOUT)
    got = peer_result(recv, TIMEOUT)
    print(f"host->guest {TCP_MIB} MiB in {t1 - t0:.1f} s (with md5), "
          f"guest->host in {time.monotonic() - t2:.1f} s")
    assert "rc=0" in out, out
    assert got == sent, (got, sent)
    netvm.sh("rm -f /tmp/r")
