"""The default guest's initramfs (guest/mkinitramfs.py, `make guest`).

The image checks need `make guest` to have run (build/guest, or BHYVE_GUEST_DIR) and are
skipped otherwise; the builder's own logic (cpio writer, modinfo reader, dependency order) is
checked on small objects made here with gcc.
"""
import gzip
import importlib.util
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import ROOT

GUEST = pathlib.Path(os.environ.get("BHYVE_GUEST_DIR", ROOT / "build" / "guest"))
WANTED = ["virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng", "virtio_scsi"]


def load_builder():
    spec = importlib.util.spec_from_file_location("mkinitramfs", ROOT / "guest" / "mkinitramfs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_cpio(blob):
    """{name: (mode, data, (rdevmajor, rdevminor))} from a newc archive."""
    out, off = {}, 0
    while True:
        assert blob[off:off + 6] == b"070701", f"bad cpio magic at {off}"
        f = [int(blob[off + 6 + 8 * i: off + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, namesize = f[1], f[6], f[9], f[10], f[11]
        name = blob[off + 110: off + 110 + namesize - 1].decode()
        off += 110 + namesize
        off += -off % 4
        data = blob[off:off + size]
        off += size
        off += -off % 4
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, data, (rmaj, rmin))


def ko_name(path):
    return pathlib.Path(path).name[:-3].replace("-", "_")


# ---- builder logic, always run ----

def make_ko(tmp, name, depends):
    src = tmp / f"{name}.c"
    src.write_text(f'const char m[] __attribute__((section(".modinfo"), used)) = '
                   f'"license=GPL\\0depends={depends}\\0name={name}";\n')
    ko = tmp / "lib/modules/9.9/kernel" / f"{name}.ko"
    ko.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-c", "-o", str(ko), str(src)], check=True)
    return ko


@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")
def test_dependency_order(tmp_path):
    b = load_builder()
    make_ko(tmp_path, "a", "b,c")
    make_ko(tmp_path, "b", "c")
    make_ko(tmp_path, "c", "")
    make_ko(tmp_path, "d-x", "c")
    make_ko(tmp_path, "loop1", "loop2")
    make_ko(tmp_path, "loop2", "loop1")
    idx = b.index_modules(tmp_path / "lib/modules/9.9")
    assert set(idx) == {"a", "b", "c", "d_x", "loop1", "loop2"}
    assert dict(b.modinfo(idx["a"]))["depends"] == "b,c"
    warnings = []
    order = b.resolve(["a", "d-x", "missing", "loop1"], idx, warnings.append)
    assert order[:4] == ["c", "b", "a", "d_x"]
    assert sorted(order[4:]) == ["loop1", "loop2"]
    assert any("missing" in w for w in warnings)
    assert any("cycle" in w for w in warnings)


def test_cpio_roundtrip():
    b = load_builder()
    c = b.Cpio()
    c.dir("etc")
    c.file("etc/x", b"hello", 0o600)
    c.symlink("bin/sh", "busybox")
    c.chardev("dev/console", 5, 1)
    entries = read_cpio(c.finish())
    assert entries["etc"][0] == 0o040755
    assert entries["etc/x"][:2] == (0o100600, b"hello")
    assert entries["bin/sh"][1] == b"busybox"
    assert entries["dev/console"][0] == 0o020600 and entries["dev/console"][2] == (5, 1)


# ---- the built image ----

@pytest.fixture(scope="module")
def image():
    initrd = GUEST / "initrd.img"
    if not initrd.is_file() or not (GUEST / "vmlinuz").is_file():
        pytest.skip(f"no guest in {GUEST} (run `make guest`)")
    return read_cpio(gzip.decompress(initrd.read_bytes()))


def test_kernel_is_bzimage():
    k = GUEST / "vmlinuz"
    if not k.is_file():
        pytest.skip(f"no guest in {GUEST} (run `make guest`)")
    hdr = k.read_bytes()[:0x300]
    assert hdr[0x1FE:0x200] == b"\x55\xaa"
    assert hdr[0x202:0x206] == b"HdrS"
    assert hdr[0x236] & 1, "XLF_KERNEL_64 missing"


def test_init_and_busybox(image):
    mode, init, _ = image["init"]
    assert mode & 0o100111 == 0o100111, "init must be an executable file"
    assert init.startswith(b"#!/bin/sh")
    assert b"bhyve-guest: init reached" in init
    assert b"setsid cttyhack sh" in init
    assert image["bin/busybox"][1][:4] == b"\x7fELF"
    for applet in ("sh", "mount", "insmod", "setsid", "cttyhack", "poweroff"):
        assert image[f"bin/{applet}"][1] == b"busybox", applet
    assert image["dev/console"][0] & 0o170000 == 0o020000
    assert image["dev/console"][2] == (5, 1)


def test_modules_present_in_dependency_order(image):
    b = load_builder()
    kos = {ko_name(n): n for n in image if n.endswith(".ko")}
    for m in WANTED:
        assert m in kos, f"{m}.ko missing from the initramfs"
    load = image["etc/modules.load"][1].decode().split()
    assert sorted(load) == sorted("/" + n for n in kos.values()), "load list != shipped .ko files"
    position = {ko_name(p): i for i, p in enumerate(load)}
    # Every dependency named in a module's .modinfo that we ship is loaded before it.
    for name, path in kos.items():
        info = b.modinfo_bytes(image[path][1])
        for k, v in info:
            if k == "depends":
                for dep in filter(None, v.split(",")):
                    dep = dep.replace("-", "_")
                    if dep in position:
                        assert position[dep] < position[name], f"{dep} after {name}"
                    else:
                        pytest.fail(f"{name} depends on {dep}, which is not shipped")
