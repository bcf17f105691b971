"""Issue #6: the virtio devices seen from inside the default Debian guest (busybox initramfs).

One module-scoped guest carries several devices (each boot of the software CPU is slow):
virtio-blk (read-write 256 MiB, `ro`, `sectorsize=4096`), virtio-rnd, virtio-console and
virtio-scsi.  The checks share it; the block and SCSI images are checked byte for byte by the
host after the guest powers off (the last test).  A second, smaller boot checks that data the
guest wrote and synced is on the image even when bhyve is SIGKILLed, and a third (root with
/dev/net/tun only) puts virtio-net on a tap in a private network namespace and pings both ways.
Guests boot with -A so that `poweroff -f` powers off (bhyve exits 1).

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

from conftest import (BOOT_TIMEOUT, BUILD, INITRD, KERNEL, MARKER, PROMPT, needs_guest,
                      prog)

pexpect = pytest.importorskip("pexpect")

TIMEOUT = BOOT_TIMEOUT
MIB = 1 << 20

pytestmark = needs_guest

# Disk sizes double as the guest's way to tell the disks apart (/sys/block/*/size).
RW_MIB, RO_MIB, SS4K_MIB, SCSI_MIB, DUR_MIB = 256, 8, 16, 32, 24

# In the guest, /tmp/A is 1 MiB: the lines "%015d\n" for 0..65535 (16 bytes each).  Chunk j of
# a disk is "%015d\n" % j followed by A, cut at 1 MiB, so every 16 bytes of a chunk and the
# first line of every chunk differ.  The host computes the same bytes.
GUEST_MKPAT = "[ -s /tmp/A ] || printf '%015d\\n' $(seq 0 65535) > /tmp/A; wc -c < /tmp/A"
PAT_A = b"".join(b"%015d\n" % i for i in range(65536))


def chunk(j):
    return (b"%015d\n" % j + PAT_A)[:MIB]


def guest_write_chunks(dev, first, count):
    return (f"for j in $(seq {first} {first + count - 1}); do "
            f"{{ printf '%015d\\n' $j; cat /tmp/A; }} | "
            f"dd of={dev} bs=1M seek=$j count=1 iflag=fullblock conv=notrunc 2>/dev/null "
            f"|| echo WRITE-FAILED $j; done; sync; echo WROTE")


def image_mismatches(path, count):
    bad = []
    with open(path, "rb") as f:
        for j in range(count):
            if f.read(MIB) != chunk(j):
                bad.append(j)
    return bad


def make_image(path, mib, fill=b"\0"):
    with open(path, "wb") as f:
        if fill == b"\0":
            f.truncate(mib * MIB)
        else:
            f.write(fill * (mib * MIB // len(fill)))
    return str(path)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class Guest:
    """A booted guest on a pexpect-driven bhyve."""

    def __init__(self, child, name):
        self.child = child
        self.name = name

    def sh(self, cmd, timeout=300):
        """Run a shell command in the guest and return its output (between two markers)."""
        tag = f"__{time.monotonic_ns()}__"
        self.child.sendline(f"echo {tag}B; {cmd}; echo {tag}E")
        self.child.expect(f"{tag}B\r?\n", timeout=timeout)
        self.child.expect(f"{tag}E", timeout=timeout)
        return self.child.before.replace("\r", "")

    def wait_exit(self, timeout=300):
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        return self.child.exitstatus

    def destroy(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        subprocess.run([prog("bhyvectl"), f"--vm={self.name}", "--destroy"],
                       capture_output=True)


def boot(bhyve_args, tag, mem="512M"):
    name = f"vt-{tag}-{os.getpid()}"
    load = subprocess.run([prog("bhyveload"), "-m", mem, "-k", str(KERNEL), "-i", str(INITRD),
                           "-a", "console=ttyS0", name], capture_output=True, text=True,
                          timeout=120)
    assert load.returncode == 0, load.stderr
    args = ["-A", "-H", "-P", "-m", mem, "-s", "0,hostbridge", "-s", "1,lpc",
            "-l", "com1,stdio"]
    child = pexpect.spawn(prog("bhyve"), args + bhyve_args + [name], encoding="utf-8",
                          codec_errors="replace", timeout=TIMEOUT, dimensions=(50, 200))
    child.logfile_read = open(BUILD / f"{name}.console.log", "w")
    g = Guest(child, name)
    try:
        child.expect(MARKER, timeout=TIMEOUT)
        child.expect(PROMPT, timeout=120)
    except Exception:
        g.destroy()
        raise
    return g


def disk_by_mib(g, prefix, mib):
    """The /dev name of the guest disk /sys/block/<prefix>* that has mib MiB."""
    out = g.sh(f"for d in /sys/block/{prefix}*; do echo ${{d##*/}} $(cat $d/size); done")
    for line in out.split("\n"):
        w = line.split()
        if len(w) == 2 and w[1].isdigit() and int(w[1]) * 512 == mib * MIB:
            return "/dev/" + w[0]
    pytest.fail(f"no {prefix}* disk of {mib} MiB in the guest: {out!r}")


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
    cl.settimeout(120)
    try:
        time.sleep(1)
        vm.sh(f"echo guest-to-host-4711 > {port}")
        got = b""
        while b"guest-to-host-4711\n" not in got:
            data = cl.recv(4096)
            assert data, f"socket closed after {got!r}"
            got += data
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
    res = vm.sh(guest_write_chunks(dev, 0, 4), timeout=TIMEOUT)
    assert "WRITE-FAILED" not in res and "WROTE" in res, (out, res)


def test_zz_poweroff_and_images(vm):
    """Last: power off, then check the images byte for byte."""
    vm.child.sendline("sync; poweroff -f")
    assert vm.wait_exit() == 1
    bad = image_mismatches(vm.imgs["rw"], RW_MIB)
    assert bad == [], f"{len(bad)} wrong MiB chunks in the rw image, first {bad[:8]}"
    assert os.path.getsize(vm.imgs["rw"]) == RW_MIB * MIB
    assert sha(vm.imgs["ro"]) == vm.ro_sha
    assert image_mismatches(vm.imgs["scsi"], 4) == []
    with open(vm.imgs["scsi"], "rb") as f:
        f.seek(4 * MIB)
        assert f.read() == bytes((SCSI_MIB - 4) * MIB)
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


def _net_ok():
    return os.geteuid() == 0 and os.path.exists("/dev/net/tun") and \
        (shutil.which("ping") or shutil.which("busybox")) and \
        subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _net_ok(), reason="needs root, /dev/net/tun and ip netns")
def test_net_ping_mac_mtu():
    """virtio-net on a tap in a private netns: MAC and MTU seen in the guest; it pings the host."""
    ns = f"vtnet{os.getpid()}"
    assert subprocess.run(["ip", "netns", "add", ns]).returncode == 0
    g = None
    try:
        name = f"vt-net-{os.getpid()}"
        load = subprocess.run([prog("bhyveload"), "-m", "512M", "-k", str(KERNEL), "-i",
                               str(INITRD), "-a", "console=ttyS0", name],
                              capture_output=True, text=True, timeout=120)
        assert load.returncode == 0, load.stderr
        args = ["netns", "exec", ns, prog("bhyve"), "-A", "-H", "-P", "-m", "512M",
                "-s", "0,hostbridge", "-s", "1,lpc", "-l", "com1,stdio",
                "-s", "2,virtio-net,tap7,mac=58:9c:fc:00:00:42,mtu=1400", name]
        child = pexpect.spawn("ip", args, encoding="utf-8", codec_errors="replace",
                              timeout=TIMEOUT, dimensions=(50, 200))
        child.logfile_read = open(BUILD / f"{name}.console.log", "w")
        g = Guest(child, name)
        child.expect(MARKER, timeout=TIMEOUT)
        child.expect(PROMPT, timeout=120)
        for c in ("ip link set lo up", "ip addr add 10.9.9.1/24 dev tap7",
                  "ip link set tap7 up"):
            assert subprocess.run(["ip", "-n", ns] + c.split()[1:]).returncode == 0, c
        out = g.sh("cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu")
        assert out.split() == ["58:9c:fc:00:00:42", "1400"], out
        out = g.sh("ip link set eth0 up; ip addr add 10.9.9.2/24 dev eth0; "
                   "ping -c 3 -W 10 10.9.9.1 2>&1 | tail -2")
        assert "3 packets received" in out, out
        out = g.sh("ping -c 2 -W 10 -s 1300 10.9.9.1 2>&1 | tail -2")
        assert "2 packets received" in out, out
        ping = [shutil.which("ping")] if shutil.which("ping") else \
            [shutil.which("busybox"), "ping"]
        host = subprocess.run(["ip", "netns", "exec", ns] + ping + ["-c", "2", "-W", "10",
                               "10.9.9.2"], capture_output=True, text=True)
        assert host.returncode == 0, host.stdout + host.stderr
        g.child.sendline("sync; poweroff -f")
        assert g.wait_exit() == 1
    finally:
        if g:
            g.destroy()
        subprocess.run(["ip", "netns", "del", ns])
