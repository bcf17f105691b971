#!/usr/bin/env python3
"""bench-uefi: boot a UEFI disk image (make guest-uefi) through Debian's OVMF with our bhyve
(`-l bootrom,CODE,VARS`) and with qemu-system-x86_64 under TCG (the same OVMF CODE as
read-only flash and a fresh copy of OVMF's VARS as writable flash, the same disk on
virtio-blk), in one run; 1 GiB, 1 vCPU.  Each boot gets its own copy of the image and of the
VARS file, so every run starts from the same state.

Two times per boot, from the start of the process:
  firmware  until the boot loader's first line (GRUB's "bhyve-guest: grub reached"),
  total     until the guest's shell marker ("bhyve-guest: uefi shell reached" of the systemd
            image, or the default guest's "bhyve-guest: init reached" of guest-uefi-small).
Medians of N runs (BENCH_UEFI_RUNS, default 3).  A boot that does not get there (e.g. our
bhyve cannot run the firmware yet) counts as failed and is reported with the last console
line seen, instead of a figure.

Environment: BHYVE_BUILD (build), BENCH_UEFI_IMAGE (build/guest-uefi/disk.img),
BENCH_UEFI_CODE / BENCH_UEFI_VARS (/usr/share/OVMF/OVMF_CODE_4M.fd / OVMF_VARS_4M.fd),
BENCH_UEFI_RUNS (3), BENCH_UEFI_TIMEOUT (seconds per boot, 900), BENCH_UEFI_ONLY (ours|qemu:
run one side only).

Last lines:
  bench-uefi: firmware ours_s=X qemu_s=Y ratio=Z
  bench-uefi: ours_s=X qemu_s=Y ratio=Z          (ratio = ours/qemu)
"""
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

GRUB = re.compile(rb"bhyve-guest: grub reached")
SHELL = re.compile(rb"bhyve-guest: (uefi shell|init) reached")


def last_line(buf):
    """The last non-empty console line, without escape sequences, for a failure report."""
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", buf).decode(errors="replace")
    lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
    return lines[-1][:100] if lines else "no output"


def timed(argv, timeout):
    """Run argv; (firmware_s, total_s, exit status or None if it was still running, last
    console line); a time is None if its marker never came (the process exited first, or
    `timeout` seconds passed)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    fd = p.stdout.fileno()
    buf = b""
    fw = total = None
    try:
        while total is None:
            left = timeout - (time.monotonic() - t0)
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:               # end of output: the process is exiting
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
                break
            buf = (buf + chunk)[-8192:]
            if fw is None and GRUB.search(buf):
                fw = time.monotonic() - t0
            if SHELL.search(buf):
                total = time.monotonic() - t0
    finally:
        rc = p.poll()       # None: still running, killed here
        p.kill()
        p.wait()
    return fw, total, rc, last_line(buf)


def scratch_copy(src, dst):
    """A private copy of a (sparse) image, so that no run sees another's writes."""
    subprocess.run(["cp", "--sparse=always", "--reflink=auto", src, dst], check=True)


def ours_argv(build, code, vars_, disk, name):
    return [f"{build}/bhyve", "-A", "-H", "-P", "-m", "1G", "-s", "0,hostbridge",
            "-s", f"2,virtio-blk,{disk}", "-s", "31,lpc", "-l", "com1,stdio",
            "-l", f"bootrom,{code},{vars_}", name]


def qemu_argv(code, vars_, disk):
    return ["qemu-system-x86_64", "-accel", "tcg", "-m", "1G", "-smp", "1", "-nographic",
            "-no-reboot", "-drive", f"if=pflash,format=raw,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,file={vars_}",
            "-drive", f"file={disk},format=raw,if=virtio"]


def run_one(side, cfg, tmp, i):
    disk, vars_ = f"{tmp}/disk-{side}.img", f"{tmp}/vars-{side}.fd"
    scratch_copy(cfg["image"], disk)
    shutil.copyfile(cfg["vars"], vars_)
    if side == "ours":
        name = f"bench-uefi-{os.getpid()}-{i}"
        r = timed(ours_argv(cfg["build"], cfg["code"], vars_, disk, name), cfg["timeout"])
        subprocess.run([f"{cfg['build']}/bhyvectl", f"--vm={name}", "--destroy"],
                       capture_output=True)
    else:
        r = timed(qemu_argv(cfg["code"], vars_, disk), cfg["timeout"])
    os.unlink(disk)
    return r


def summary(label, ours, qemu, failed):
    """One result line; `failed` is why our side has no figure (None when it has one)."""
    q = "nan" if not qemu else "failed" if None in qemu else f"{statistics.median(qemu):.2f}"
    if failed:
        return f"bench-uefi: {label}ours=failed ({failed}) qemu_s={q}"
    o = statistics.median(ours)
    ratio = "nan" if q in ("nan", "failed") else f"{o / float(q):.2f}"
    return f"bench-uefi: {label}ours_s={o:.2f} qemu_s={q} ratio={ratio}"


def main():
    cfg = {
        "build": os.environ.get("BHYVE_BUILD", "build"),
        "image": os.environ.get("BENCH_UEFI_IMAGE", "build/guest-uefi/disk.img"),
        "code": os.environ.get("BENCH_UEFI_CODE", "/usr/share/OVMF/OVMF_CODE_4M.fd"),
        "vars": os.environ.get("BENCH_UEFI_VARS", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
        "timeout": int(os.environ.get("BENCH_UEFI_TIMEOUT", "900")),
    }
    runs = int(os.environ.get("BENCH_UEFI_RUNS", "3"))
    sides = [s for s in ("ours", "qemu") if os.environ.get("BENCH_UEFI_ONLY", s) == s]
    for f in (cfg["image"], cfg["code"], cfg["vars"]):
        if not os.path.exists(f):
            print(f"bench-uefi: {f} missing (make guest-uefi; apt-get install ovmf)")
            return 1
    res = {s: [] for s in ("ours", "qemu")}
    fail = {"ours": None, "qemu": None}
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(cfg["image"]))) as tmp:
        for i in range(runs):
            for side in sides:
                if fail[side]:
                    continue        # a side that failed once is not tried again
                fw, total, rc, last = run_one(side, cfg, tmp, i)
                res[side].append((fw, total))
                if total is None:
                    fail[side] = f"exit {rc}, last line: {last}" if rc is not None \
                        else f"no marker in {cfg['timeout']} s, last line: {last}"
                print(f"run {i + 1} {side}: firmware_s={fw} total_s={total}"
                      + (f" ({fail[side]})" if fail[side] else ""), flush=True)
    if "ours" not in sides:
        fail["ours"] = "not run"
    fw = {s: [r[0] for r in res[s]] for s in res}
    tot = {s: [r[1] for r in res[s]] for s in res}
    fw_fail = fail["ours"] if None in fw["ours"] or not fw["ours"] else None
    print(summary("firmware ", fw["ours"], fw["qemu"], fw_fail))
    print(summary("", tot["ours"], tot["qemu"], fail["ours"]))
    return 0 if not fail["qemu"] or "qemu" not in sides else 1


if __name__ == "__main__":
    sys.exit(main())
