#!/usr/bin/env python3
"""Build the default guest's initramfs (cpio "newc", gzip) without root privileges.

Contents: a static busybox with a symlink per applet, /init (guest/init.sh), /dev/console (so
the kernel can open its initial console before devtmpfs is mounted), the kernel modules for the
devices bhyve emulates plus their dependencies, and /etc/modules.load: the .ko paths in
dependency order, which /init loads with insmod; and udhcpc's default script, which configures
an interface from a DHCP lease (udhcpc -i eth0).

The kernel packages ship no modules.dep, so dependencies come from each module's own
`depends=` field in its ELF .modinfo section (what `modinfo -F depends` prints).

Usage: mkinitramfs.py --kernel-root DIR --busybox FILE --init FILE --out FILE MODULE...
"""
import argparse
import gzip
import os
import pathlib
import struct
import subprocess
import sys


def elf_section(data, wanted):
    """Bytes of the ELF64 little-endian section called `wanted`, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shstrndx >= shnum:
        return None

    def header(i):
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)

    strtab = header(shstrndx)
    names = data[strtab[4]:strtab[4] + strtab[5]]
    for i in range(shnum):
        h = header(i)
        end = names.find(b"\0", h[0])
        if names[h[0]:end].decode(errors="replace") == wanted:
            return data[h[4]:h[4] + h[5]]
    return None


def modinfo(path):
    """The key=value pairs of a .ko's .modinfo section (keys may repeat: list of pairs)."""
    return modinfo_bytes(path.read_bytes())


def modinfo_bytes(data):
    sec = elf_section(data, ".modinfo") or b""
    out = []
    for item in sec.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            out.append((k.decode(), v.decode(errors="replace")))
    return out


def index_modules(moddir):
    """Module name (dashes as underscores, as the kernel does) -> path of its .ko."""
    idx = {}
    for ko in sorted(moddir.rglob("*.ko")):
        idx[ko.name[:-3].replace("-", "_")] = ko
    return idx


def resolve(names, idx, warn):
    """The wanted modules and their dependencies, each after everything it depends on."""
    order, state = [], {}

    def visit(name, chain):
        name = name.replace("-", "_")
        if state.get(name) == "done":
            return
        if state.get(name) == "busy":
            warn(f"dependency cycle: {' -> '.join(chain + [name])}")
            return
        if name not in idx:
            warn(f"module {name} not in this kernel package (built in or absent): skipped")
            state[name] = "done"
            return
        state[name] = "busy"
        for k, v in modinfo(idx[name]):
            if k == "depends":
                for dep in filter(None, v.split(",")):
                    visit(dep, chain + [name])
        state[name] = "done"
        order.append(name)

    for n in names:
        visit(n, [])
    return order


class Cpio:
    """Writer for the SVR4 "newc" cpio format the kernel unpacks (no CRC)."""

    def __init__(self):
        self.parts, self.ino = [], 1

    def add(self, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{x:08X}" for x in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
        self.ino += 1
        blob = hdr.encode() + name_b
        blob += b"\0" * (-len(blob) % 4)
        blob += data + b"\0" * (-len(data) % 4)
        self.parts.append(blob)

    def dir(self, name):
        self.add(name, 0o040755)

    def file(self, name, data, perm=0o644):
        self.add(name, 0o100000 | perm, data)

    def symlink(self, name, target):
        self.add(name, 0o120777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self.add(name, 0o020000 | perm, rdev=(major, minor))

    def finish(self):
        self.add("TRAILER!!!", 0)
        return b"".join(self.parts)


# busybox udhcpc runs this script (Debian's default path) on each DHCP event with the lease in the
# environment: it configures the interface, the default route and /etc/resolv.conf.
UDHCPC_SCRIPT = b"""#!/bin/sh
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
	ip link set "$interface" up
	for r in $router; do
		ip route replace default via "$r" dev "$interface"
		break
	done
	: > /etc/resolv.conf
	for d in $dns; do
		echo "nameserver $d" >> /etc/resolv.conf
	done
	;;
esac
exit 0
"""


def applets(busybox):
    r = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    return [a for a in r.stdout.split() if a and "/" not in a]


def build(args):
    kroot = pathlib.Path(args.kernel_root)
    moddirs = sorted((kroot / "lib/modules").iterdir())
    if len(moddirs) != 1:
        sys.exit(f"mkinitramfs: expected one kernel version under {kroot}/lib/modules")
    moddir = moddirs[0]
    kver = moddir.name
    warn = lambda m: print(f"mkinitramfs: {m}", file=sys.stderr)
    order = resolve(args.modules, index_modules(moddir), warn)

    c = Cpio()
    made = set()
    for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "root", "mnt", "run",
              "lib", "lib/modules", f"lib/modules/{kver}", "etc/udhcpc"):
        c.dir(d)
        made.add(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)
    c.chardev("dev/ttyS0", 4, 64)
    c.file("bin/busybox", pathlib.Path(args.busybox).read_bytes(), 0o755)
    for a in applets(args.busybox):
        if a != "busybox":
            c.symlink(f"bin/{a}", "busybox")
    c.file("init", pathlib.Path(args.init).read_bytes(), 0o755)
    c.file("etc/hostname", b"bhyve-guest\n")
    c.file("etc/udhcpc/default.script", UDHCPC_SCRIPT, 0o755)
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    c.file("etc/group", b"root:x:0:\n")
    load = []
    idx = index_modules(moddir)
    for name in order:
        rel = idx[name].relative_to(kroot)
        parts = rel.parts[:-1]
        for i in range(len(parts)):
            p = "/".join(parts[:i + 1])
            if p not in made:
                c.dir(p)
                made.add(p)
        c.file(str(rel), idx[name].read_bytes())
        load.append("/" + str(rel))
    c.file("etc/modules.load", ("\n".join(load) + "\n").encode())
    c.file("etc/kernel-version", (kver + "\n").encode())
    data = c.finish()
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))
    os.replace(tmp, args.out)
    print(f"mkinitramfs: {args.out}: kernel {kver}, {len(order)} modules: {' '.join(order)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel-root", required=True, help="dpkg-deb -x of the kernel package")
    ap.add_argument("--busybox", required=True, help="static busybox binary")
    ap.add_argument("--init", required=True, help="the /init script")
    ap.add_argument("--out", required=True, help="output initrd (gzip'd cpio)")
    ap.add_argument("modules", nargs="*", help="module names to include with their deps")
    build(ap.parse_args())


if __name__ == "__main__":
    main()
