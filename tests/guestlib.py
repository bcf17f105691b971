"""Driving the default guest's shell over the serial console, shared by tests and benchmarks.

- Guest: a pexpect child running a VM (our bhyve or QEMU) whose console is the busybox shell of
  the default guest; sh() runs a command and returns its output.
- boot_bhyve(): bhyveload + bhyve with the default guest, optionally under a command prefix
  (e.g. `ip netns exec NS`), waits for the init marker and the prompt.
- NetNs: a private network namespace (root only) in which bhyve's or QEMU's tap is created.
- Peer: the host end of a TCP transfer, run inside a namespace as
  `python3 tests/guestlib.py send|recv ADDR PORT [NBYTES SEED]`; it prints "listening" once
  bound, and at the end "bytes=N md5=HEX" (recv: what arrived; send: what it sent).

The default guest's paths and constants come from conftest.py (BHYVE_BUILD, BHYVE_GUEST_DIR);
bench/io imports this file with tests/ on sys.path.
"""
import hashlib
import os
import pathlib
import random
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from conftest import BOOT_TIMEOUT, BUILD, INITRD, KERNEL, MARKER, PROMPT  # noqa: E402

MIB = 1 << 20


def prog(name, build=None):
    return str(pathlib.Path(build or BUILD) / name)


class Guest:
    """A booted guest on a pexpect child; `name` is the bhyve VM to destroy (None for QEMU)."""

    def __init__(self, child, name=None, build=None):
        self.child = child
        self.name = name
        self.build = build

    def sh(self, cmd, timeout=300):
        """Run a shell command in the guest and return its output (between two markers)."""
        tag = f"__{time.monotonic_ns()}__"
        self.child.sendline(f"echo {tag}B; {cmd}; echo {tag}E")
        self.child.expect(f"{tag}B\r*\n", timeout=timeout)
        self.child.expect(f"{tag}E", timeout=timeout)
        return self.child.before.replace("\r", "")

    def wait_exit(self, timeout=300):
        import pexpect
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        return self.child.exitstatus

    def destroy(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        if self.name:
            subprocess.run([prog("bhyvectl", self.build), f"--vm={self.name}", "--destroy"],
                           capture_output=True)


def wait_shell(g, timeout=BOOT_TIMEOUT):
    """Wait for the init marker and the shell prompt; on failure the VM is removed.  Kernel
    messages (e.g. the clocksource watchdog on a loaded host) are then kept off the console so
    that they cannot land in the output of a command."""
    try:
        g.child.expect(MARKER, timeout=timeout)
        g.child.expect(PROMPT, timeout=120)
        g.sh("dmesg -n 1", timeout=120)
    except Exception:
        g.destroy()
        raise
    return g


def boot_bhyve(bhyve_args, tag, mem="512M", prefix=(), build=None, kernel=KERNEL,
               initrd=INITRD, log=None, timeout=BOOT_TIMEOUT, cmdline="console=ttyS0",
               acpi=True):
    """bhyveload + bhyve (-A -H -P, hostbridge, lpc, com1 on stdio) + bhyve_args; a Guest.
    acpi=False leaves out -A (the guest then finds the IOAPIC in the MP table)."""
    import pexpect
    name = f"vt-{tag}-{os.getpid()}"
    load = subprocess.run([prog("bhyveload", build), "-m", mem, "-k", str(kernel), "-i",
                           str(initrd), "-a", cmdline, name], capture_output=True,
                          text=True, timeout=120)
    if load.returncode != 0:
        raise RuntimeError(f"bhyveload: {load.stderr}")
    argv = list(prefix) + [prog("bhyve", build)] + (["-A"] if acpi else []) + [
        "-H", "-P", "-m", mem, "-s", "0,hostbridge", "-s", "1,lpc", "-l", "com1,stdio"]
    argv += list(bhyve_args) + [name]
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                          timeout=timeout, dimensions=(50, 200))
    child.logfile_read = open(log or pathlib.Path(build or BUILD) / f"{name}.console.log", "w")
    return wait_shell(Guest(child, name, build), timeout)


def net_ok():
    """Root, /dev/net/tun and `ip netns`: what the tap tests and benchmarks need."""
    return os.geteuid() == 0 and os.path.exists("/dev/net/tun") and \
        shutil.which("ip") is not None and \
        subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


class NetNs:
    """A private network namespace `name`; deleted (with its taps) by close()."""

    def __init__(self, name):
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.ip("link set lo up")

    def ip(self, args):
        r = subprocess.run(["ip", "-n", self.name] + args.split(), capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError(f"ip {args}: {r.stderr}")

    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def wait_link(self, dev, timeout=60):
        """Wait until the emulator has created tap `dev` in the namespace."""
        end = time.monotonic() + timeout
        while subprocess.run(["ip", "-n", self.name, "link", "show", dev],
                             capture_output=True).returncode != 0:
            if time.monotonic() > end:
                raise RuntimeError(f"{dev} did not appear in {self.name}")
            time.sleep(0.2)

    def host_addr(self, dev, cidr, mtu=None):
        self.wait_link(dev)
        self.ip(f"addr add {cidr} dev {dev}")
        if mtu:
            self.ip(f"link set {dev} mtu {mtu}")
        self.ip(f"link set {dev} up")

    def peer(self, mode, addr, port, nbytes=0, seed=0):
        """Start a Peer in the namespace; returns the Popen once it listens."""
        p = subprocess.Popen(self.prefix() + [sys.executable, __file__, mode, addr, str(port),
                                              str(nbytes), str(seed)],
                             stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        if line.strip() != "listening":
            p.kill()
            raise RuntimeError(f"peer {mode} did not start: {line!r}")
        return p

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def peer_result(p, timeout):
    """(bytes, md5) printed by a Peer when its transfer is over."""
    out, _ = p.communicate(timeout=timeout)
    fields = dict(w.split("=", 1) for w in out.split() if "=" in w)
    return int(fields.get("bytes", -1)), fields.get("md5", "")


def peer_data(nbytes, seed):
    """The bytes a `send` Peer sends: pseudo-random, never repeating, reproducible."""
    return random.Random(seed).randbytes(nbytes)


def _peer_main(mode, addr, port, nbytes, seed):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    data = memoryview(peer_data(nbytes, seed)) if mode == "send" else None
    print("listening", flush=True)
    c, _ = srv.accept()
    h, n = hashlib.md5(), 0
    if mode == "send":
        for off in range(0, nbytes, MIB):
            c.sendall(data[off:off + MIB])
        h.update(data)
        n = nbytes
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):        # until the guest closes too
            pass
    else:
        while True:
            d = c.recv(1 << 18)
            if not d:
                break
            h.update(d)
            n += len(d)
    c.close()
    print(f"bytes={n} md5={h.hexdigest()}", flush=True)


# ---- Disk pattern tests (virtio-blk, virtio-scsi, AHCI, NVMe) ----
# In the guest, /tmp/A is 1 MiB: the lines "%015d\n" for 0..65535 (16 bytes each).  Chunk j of
# a disk (its j-th MiB) is the line "%015d\n" % j, then A rotated left by 257 * j lines, cut at
# 1 MiB.  So the 16-byte lines of a chunk differ (but for the chunk number, which A holds too),
# and the lines at the same offset in two chunks differ: a 4 KiB block that lands at the wrong
# offset, in its own chunk or another, does not match.  The host computes the same bytes.
GUEST_MKPAT = "[ -s /tmp/A ] || printf '%015d\\n' $(seq 0 65535) > /tmp/A; wc -c < /tmp/A"
PAT_A = b"".join(b"%015d\n" % i for i in range(65536))


def chunk(j):
    rot = (257 * j % 65536) * 16
    return (b"%015d\n" % j + PAT_A[rot:] + PAT_A[:rot])[:MIB]


def guest_write_chunks(dev, first, count):
    return (f"for j in $(seq {first} {first + count - 1}); do "
            f"{{ printf '%015d\\n' $j; dd if=/tmp/A bs=64k iflag=skip_bytes "
            f"skip=$((257 * j % 65536 * 16)) 2>/dev/null; cat /tmp/A; }} | "
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


def disk_by_mib(g, prefix, mib):
    """The /dev name of the guest disk /sys/block/<prefix>* that has mib MiB."""
    out = g.sh(f"for d in /sys/block/{prefix}*; do echo ${{d##*/}} $(cat $d/size); done")
    for line in out.split("\n"):
        w = line.split()
        if len(w) == 2 and w[1].isdigit() and int(w[1]) * 512 == mib * MIB:
            return "/dev/" + w[0]
    raise AssertionError(f"no {prefix}* disk of {mib} MiB in the guest: {out!r}")


if __name__ == "__main__":
    _peer_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
               int(sys.argv[5]))

