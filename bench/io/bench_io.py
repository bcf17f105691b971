#!/usr/bin/env python3
"""bench-io: block and network throughput inside the default guest, on our bhyve (software CPU)
and on qemu-system-x86_64 -accel tcg, in one run, with the same kernel, initramfs, memory,
vCPU count and virtio devices (virtio-blk on a raw image file, virtio-net on a tap in a
private network namespace).

The guest runs bench/io/iobench.c (static, appended to a copy of the initramfs as /bin/iobench),
which times each figure inside the guest with CLOCK_MONOTONIC:
  seq_read_MBps        O_DIRECT 1 MiB reads of the first BENCH_IO_SEQ_MIB MiB of /dev/vda
  seq_write_MBps       O_DIRECT 1 MiB writes of as much, then fdatasync
  rand_read_4k_iops    O_DIRECT 4 KiB reads at random offsets over the disk, queue depth 1,
                       for BENCH_IO_RAND_S seconds
  tcp_host_to_guest_MBps / tcp_guest_to_host_MBps
                       BENCH_IO_NET_MIB MiB over one TCP connection to a host peer inside the
                       namespace (tests/guestlib.py), until every byte has arrived
With Debian's generic kernel (`make guest-generic`; the cloud kernel has no AHCI driver) a
second guest per run measures the same three block figures on an AHCI disk (ours: ahci-hd;
QEMU: ahci + ide-hd) and on NVMe (ours: nvme; QEMU: nvme), named ahci_* and nvme_*; without
that guest those rows are skipped with a message.
Each figure is the median of BENCH_IO_RUNS (3) boots of each emulator, alternating ours and
QEMU, so that a burst of load on the host does not fall on one side only.
Both emulators read and write the image through the host page cache (bhyve's default, QEMU's
cache=writeback).  Without root, /dev/net/tun or `ip netns` the network figures are skipped
with a message; without qemu-system-x86_64 the whole benchmark is skipped (exit 0 both ways).

Last lines, one per figure:  bench-io: NAME ours=X qemu=Y ratio=Z   (ratio = ours/qemu)
"""
import gzip
import os
import pathlib
import random
import shutil
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "guest"))

import guestlib  # noqa: E402
from guestlib import Guest, NetNs, boot_bhyve, net_ok, peer_result, wait_shell  # noqa: E402
from mkinitramfs import Cpio  # noqa: E402

MIB = 1 << 20
MEM = os.environ.get("BENCH_IO_MEM", "512M")
DISK_MIB = int(os.environ.get("BENCH_IO_DISK_MIB", "256"))
SEQ_MIB = int(os.environ.get("BENCH_IO_SEQ_MIB", "64"))
RAND_S = float(os.environ.get("BENCH_IO_RAND_S", "10"))
NET_MIB = int(os.environ.get("BENCH_IO_NET_MIB", "32"))
TIMEOUT = int(os.environ.get("BENCH_IO_TIMEOUT", "1200"))
RUNS = max(1, int(os.environ.get("BENCH_IO_RUNS", "3")))
HOST_IP, GUEST_IP, TAP = "10.9.8.1", "10.9.8.2", "tap8"
MAC = "58:9c:fc:00:10:01"
FIGURES = ["seq_read_MBps", "seq_write_MBps", "rand_read_4k_iops",
           "tcp_host_to_guest_MBps", "tcp_guest_to_host_MBps"]
GENERIC = ROOT / os.environ.get("BHYVE_GUEST_GENERIC_DIR", "build/guest-generic")
# Storage controllers measured on the generic kernel: (name, guest device).
STORAGE = [("ahci", "/dev/sda"), ("nvme", "/dev/nvme0n1")]
FIGURES += [f"{n}_{f}" for n, _ in STORAGE
            for f in ("seq_read_MBps", "seq_write_MBps", "rand_read_4k_iops")]


def make_initrd(out, helper, base=None):
    """The default (or `base`) initramfs followed by a second archive holding /bin/iobench."""
    c = Cpio()
    c.file("bin/iobench", pathlib.Path(helper).read_bytes(), 0o755)
    out.write_bytes(pathlib.Path(base or guestlib.INITRD).read_bytes() +
                    gzip.compress(c.finish()))


def make_disk(path):
    """Pseudo-random contents, so reads are of real data, not holes."""
    rnd = random.Random(1)
    with open(path, "wb") as f:
        for _ in range(DISK_MIB):
            f.write(rnd.randbytes(MIB))


def boot_qemu(initrd, disk, ns, log):
    import pexpect
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", MEM, "-smp", "1", "-nodefaults",
            "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", str(guestlib.KERNEL), "-initrd", str(initrd), "-append", "console=ttyS0",
            "-drive", f"file={disk},if=none,id=d0,format=raw,cache=writeback",
            "-device", "virtio-blk-pci,drive=d0"]
    if ns:
        argv = ns.prefix() + argv + [
            "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"]
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                          timeout=TIMEOUT, dimensions=(50, 200))
    child.logfile_read = open(log, "w")
    return wait_shell(Guest(child), TIMEOUT)


def boot_ours(initrd, disk, ns, log):
    args = ["-s", f"2,virtio-blk,{disk}"]
    if ns:
        args += ["-s", f"3,virtio-net,{TAP},mac={MAC}"]
    return boot_bhyve(args, "bench-io", mem=MEM, prefix=ns.prefix() if ns else (),
                      initrd=initrd, log=log, timeout=TIMEOUT)


def boot_qemu_storage(initrd, disks, log):
    import pexpect
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", MEM, "-smp", "1", "-nodefaults",
            "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", str(GENERIC / "vmlinuz"), "-initrd", str(initrd),
            "-append", "console=ttyS0",
            "-drive", f"file={disks[0]},if=none,id=d0,format=raw,cache=writeback",
            "-device", "ahci,id=ahci0", "-device", "ide-hd,drive=d0,bus=ahci0.0",
            "-drive", f"file={disks[1]},if=none,id=d1,format=raw,cache=writeback",
            "-device", "nvme,drive=d1,serial=bench"]
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                          timeout=TIMEOUT, dimensions=(50, 200))
    child.logfile_read = open(log, "w")
    return wait_shell(Guest(child), TIMEOUT)


def boot_ours_storage(initrd, disks, log):
    return boot_bhyve(["-s", f"2,ahci-hd,{disks[0]}", "-s", f"3,nvme,{disks[1]}"],
                      "bench-io-st", mem=MEM, kernel=GENERIC / "vmlinuz", initrd=initrd,
                      log=log, timeout=TIMEOUT)


def measure_storage(kind, boot, initrd, disks, outdir):
    """The ahci_* and nvme_* figures for one emulator (dict)."""
    g = None
    res = {}
    try:
        g = boot(initrd, disks, outdir / f"{kind}-storage.console.log")
        for name, dev in STORAGE:
            res[f"{name}_seq_read_MBps"] = iobench(g, f"read {dev} {SEQ_MIB}")
            res[f"{name}_rand_read_4k_iops"] = iobench(g, f"rand {dev} {RAND_S}")
            res[f"{name}_seq_write_MBps"] = iobench(g, f"write {dev} {SEQ_MIB}")
        print(f"bench-io: {kind}: " + " ".join(f"{k}={v:.2f}" for k, v in res.items()),
              flush=True)
    finally:
        if g:
            g.destroy()
    return res


def iobench(g, args):
    """Run iobench in the guest; the value it printed (float)."""
    out = g.sh(f"iobench {args}", timeout=TIMEOUT)
    for line in out.split("\n"):
        if line.startswith("iobench: "):
            return float(line.split()[1].split("=")[1])
    raise RuntimeError(f"iobench {args}: {out!r}")


def tcp(g, ns):
    """(host->guest, guest->host) MB/s measured by the guest."""
    n = NET_MIB * MIB
    send = ns.peer("send", HOST_IP, 5101, n, seed=1)
    h2g = iobench(g, f"tcprecv {HOST_IP} 5101")
    if peer_result(send, 120)[0] != n:
        raise RuntimeError("host->guest transfer incomplete")
    recv = ns.peer("recv", HOST_IP, 5102)
    g2h = iobench(g, f"tcpsend {HOST_IP} 5102 {NET_MIB}")
    if peer_result(recv, 120)[0] != n:
        raise RuntimeError("guest->host transfer incomplete")
    return h2g, g2h


def measure(kind, boot, initrd, disk, use_net, outdir):
    """The figures for one emulator (dict)."""
    ns = NetNs(f"bio{kind}{os.getpid()}") if use_net else None
    g = None
    res = {}
    try:
        g = boot(initrd, disk, ns, outdir / f"{kind}.console.log")
        print(f"bench-io: {kind}: guest up", flush=True)
        res["seq_read_MBps"] = iobench(g, f"read /dev/vda {SEQ_MIB}")
        res["rand_read_4k_iops"] = iobench(g, f"rand /dev/vda {RAND_S}")
        res["seq_write_MBps"] = iobench(g, f"write /dev/vda {SEQ_MIB}")
        if ns:
            ns.host_addr(TAP, f"{HOST_IP}/24")
            g.sh(f"ip link set eth0 up; ip addr add {GUEST_IP}/24 dev eth0")
            res["tcp_host_to_guest_MBps"], res["tcp_guest_to_host_MBps"] = tcp(g, ns)
        print(f"bench-io: {kind}: " + " ".join(f"{k}={v:.2f}" for k, v in res.items()),
              flush=True)
    finally:
        if g:
            g.destroy()
        if ns:
            ns.close()
    return res


def main():
    build = pathlib.Path(os.environ.get("BHYVE_BUILD", "build"))
    helper = build / "bench/io/iobench"
    if not shutil.which("qemu-system-x86_64"):
        print("bench-io: skipped: qemu-system-x86_64 not found")
        return 0
    for p in (guestlib.KERNEL, guestlib.INITRD, helper, build / "bhyve"):
        if not p.exists():
            print(f"bench-io: missing {p} (make all guest)")
            return 1
    use_net = net_ok()
    if not use_net:
        print("bench-io: network figures skipped: need root, /dev/net/tun and ip netns")
    outdir = build / "bench/io"
    initrd, disk = outdir / "initrd.img", outdir / "disk.img"
    make_initrd(initrd, helper)
    storage = (GENERIC / "vmlinuz").exists()
    if storage:
        ginitrd, disk2 = outdir / "initrd-generic.img", outdir / "disk2.img"
        make_initrd(ginitrd, helper, GENERIC / "initrd.img")
    else:
        print("bench-io: ahci and nvme figures skipped: no generic guest (make guest-generic)")
    runs = {"ours": [], "qemu": []}
    for _ in range(RUNS):
        for kind, boot in (("ours", boot_ours), ("qemu", boot_qemu)):
            make_disk(disk)
            res = measure(kind, boot, initrd, disk, use_net, outdir)
            if storage:
                make_disk(disk2)
                sboot = boot_ours_storage if kind == "ours" else boot_qemu_storage
                res.update(measure_storage(kind, sboot, ginitrd, (disk, disk2), outdir))
            runs[kind].append(res)
    disk.unlink()
    if storage:
        disk2.unlink()
    ours, qemu = ({k: statistics.median(r[k] for r in runs[kind]) for k in runs[kind][0]}
                  for kind in ("ours", "qemu"))
    for name in FIGURES:
        if name in ours and name in qemu:
            ratio = ours[name] / qemu[name] if qemu[name] else float("inf")
            print(f"bench-io: {name} ours={ours[name]:.2f} qemu={qemu[name]:.2f} "
                  f"ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
