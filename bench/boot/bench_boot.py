#!/usr/bin/env python3
"""bench-boot: boot the default guest to its init marker with our bhyve (software CPU) and with
qemu-system-x86_64 under TCG, same kernel, initramfs, memory and vCPU count, in one run.
Medians of N runs (BENCH_BOOT_RUNS, default 3).  The guest's init powers off right after the
marker (bhyve.after=poweroff), so each run is one process from start to exit; the time is taken
when the marker line appears.

Last line: bench-boot: ours_s=X qemu_s=Y ratio=Z   (ratio = ours/qemu)
"""
import os
import statistics
import subprocess
import sys
import time

MARKER = b"bhyve-guest: init reached"


def timed(argv, timeout):
    """Seconds from start until MARKER appears on the process's output (None on failure)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    buf = b""
    found = None
    try:
        while True:
            chunk = p.stdout.read1(4096) if hasattr(p.stdout, "read1") else p.stdout.read(1)
            if not chunk:
                break
            buf += chunk
            if found is None and MARKER in buf:
                found = time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                break
            buf = buf[-256:]
    finally:
        p.kill()
        p.wait()
    return found


def main():
    build = os.environ.get("BHYVE_BUILD", "build")
    guest = os.environ.get("BHYVE_GUEST_DIR", "build/guest")
    runs = int(os.environ.get("BENCH_BOOT_RUNS", "3"))
    mem = os.environ.get("BENCH_BOOT_MEM", "256M")
    timeout = int(os.environ.get("BENCH_BOOT_TIMEOUT", "1200"))
    kernel, initrd = f"{guest}/vmlinuz", f"{guest}/initrd.img"
    cmdline = "console=ttyS0 bhyve.after=poweroff"
    ours, qemu = [], []
    for i in range(runs):
        name = f"bench-boot-{os.getpid()}-{i}"
        argv = [f"{build}/bhyve", "-A", "-H", "-m", mem, "-s", "0,hostbridge", "-s", "1,lpc",
                "-l", "com1,stdio", "-o", f"loader.kernel={kernel}",
                "-o", f"loader.initrd={initrd}", "-o", f"loader.cmdline={cmdline}", name]
        ours.append(timed(argv, timeout))
        subprocess.run([f"{build}/bhyvectl", f"--vm={name}", "--destroy"],
                       capture_output=True)
        qemu.append(timed(["qemu-system-x86_64", "-accel", "tcg", "-m", mem, "-nographic",
                           "-no-reboot", "-kernel", kernel, "-initrd", initrd,
                           "-append", cmdline], timeout))
        print(f"run {i + 1}: ours={ours[-1]} qemu={qemu[-1]}", flush=True)
    if None in ours or None in qemu:
        print("bench-boot: a boot did not reach the marker", file=sys.stderr)
        print("bench-boot: ours_s=nan qemu_s=nan ratio=nan")
        return 1
    o, q = statistics.median(ours), statistics.median(qemu)
    print(f"bench-boot: ours_s={o:.2f} qemu_s={q:.2f} ratio={o / q:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
