"""The direction of dependence between the folders of src/, read from the #include lines
(docs/ARCHITECTURE.md): cmd/ assembles a VM; the devices (platform/, pci/) use the VM interface
(vmm/); vmm/ uses cpu/; backends/, loader/ and common/ sit below.  So the folder graph has no
cycle, vmm/ includes nothing from platform/ or pci/, and only vmm/ sees the VM's internals."""
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, prog

SRC = ROOT / "src"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_edges(src=SRC):
    """{(from_folder, to_folder): [file, ...]} for every quoted include across folders."""
    edges = {}
    for f in sorted(src.rglob("*.[ch]")):
        here = f.relative_to(src).parts[0]
        for inc in INCLUDE.findall(f.read_text(errors="replace")):
            parts = pathlib.PurePosixPath(inc).parts
            if len(parts) < 2 or parts[0] == here:
                continue
            edges.setdefault((here, parts[0]), []).append(str(f.relative_to(src)))
    return edges


def find_cycle(edges):
    """One cycle of folders as a list (first == last), or None."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def test_no_cycle_between_folders():
    edges = folder_edges()
    cycle = find_cycle(edges)
    assert cycle is None, "include cycle between folders: " + " -> ".join(cycle) + "\n" + \
        "\n".join(f"{a} -> {b}: {', '.join(edges[(a, b)])}" for a, b in zip(cycle, cycle[1:]))


def test_vmm_includes_no_device():
    edges = folder_edges()
    bad = {k: v for k, v in edges.items() if k[0] == "vmm" and k[1] in ("platform", "pci")}
    assert not bad, f"src/vmm/ names devices: {bad}"


def test_lower_layers_include_no_device():
    edges = folder_edges()
    low = ("cpu", "common", "backends", "loader", "vmm")
    bad = {k: v for k, v in edges.items() if k[0] in low and k[1] in ("cmd", "platform", "pci")}
    assert not bad, f"a lower layer includes cmd/ or a device: {bad}"


def test_vm_internals_stay_in_vmm():
    users = [str(f.relative_to(ROOT)) for f in SRC.rglob("*.[ch]")
             if f.relative_to(SRC).parts[0] != "vmm"
             and "vmm/vm_internal.h" in INCLUDE.findall(f.read_text(errors="replace"))]
    assert not users, f"per-VM state reached outside src/vmm/ (use the accessors): {users}"


def test_checker_finds_a_cycle(tmp_path):
    """The checker itself: a two-folder loop is reported."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.c").write_text('#include "b/y.h"\n')
    (tmp_path / "b" / "y.h").write_text('#include "a/z.h"\n')
    assert find_cycle(folder_edges(tmp_path)) == ["a", "b", "a"]


# ---- Adding a virtio device touches one new file under src/ ----

TOP_LEVEL_OK = re.compile(r"^(static\b|#|/\*| \*|\*/|}|{|struct \w+ \{|enum \w+ \{|union \w+ \{|"
                          r"PCI_EMUL_SET\(|LPC_EMUL_SET\(|_Static_assert\(|$)")
STATIC_FN = re.compile(r"^static\b[^;=]*?\b([A-Za-z_]\w*)\s*\(", re.M)
# The shared virtio code: the transport, the virtqueue, the storage request tracking.
VIRTIO_SHARED = ("virtio_pci", "virtio_pci_bus", "virtio_ring", "virtio_req")


def virtio_devices(src=SRC):
    return sorted((src / "pci").glob("pci_virtio_*.c"))


def exported_lines(path):
    """Lines at file scope that start a definition other files could name (not static)."""
    bad = []
    in_comment = False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if in_comment:
            in_comment = "*/" not in line
            continue
        if line.startswith("/*") and "*/" not in line:
            in_comment = True
            continue
        if line[:1] in ("\t", " ") or TOP_LEVEL_OK.match(line):
            continue
        bad.append(f"{path.name}:{n}: {line}")
    return bad


def test_virtio_devices_exist():
    names = {p.name for p in virtio_devices()}
    assert {"pci_virtio_block.c", "pci_virtio_net.c", "pci_virtio_rnd.c",
            "pci_virtio_console.c", "pci_virtio_scsi.c"} <= names


def test_virtio_device_is_one_file():
    """A virtio device has no header of its own, exports nothing (it registers through
    PCI_EMUL_SET), and no other file under src/ names any of its functions."""
    others = {f: f.read_text(errors="replace") for f in SRC.rglob("*.[ch]")}
    for dev in virtio_devices():
        stem = dev.stem
        assert not (dev.parent / f"{stem}.h").exists(), f"{stem}.h: a device has no header"
        assert not exported_lines(dev), "\n".join(exported_lines(dev))
        names = set(STATIC_FN.findall(dev.read_text()))
        assert names, f"{dev.name}: no functions found"
        for f, text in others.items():
            if f == dev:
                continue
            used = sorted(n for n in names if re.search(rf"\b{n}\b", text))
            assert not used, f"{f.relative_to(ROOT)} names {dev.name}'s {used}"


def test_virtio_transport_names_no_device():
    """The transport, virtqueue and request-tracking files and the PCI bus say nothing about
    any particular virtio device: no device header, no device prefix, no device name."""
    prefixes = set()
    for dev in virtio_devices():
        for n in STATIC_FN.findall(dev.read_text()):
            if n.startswith("vt") and "_" in n:
                prefixes.add(n.split("_")[0] + "_")
    assert {"vtblk_", "vtnet_", "vtscsi_", "vtcon_", "vtrnd_"} <= prefixes
    files = [SRC / "pci" / f"{b}.{e}" for b in VIRTIO_SHARED for e in ("c", "h")]
    files += [f for f in (SRC / "pci").glob("pci_bus*") ] + [SRC / "pci" / "pci_emul.c"]
    for f in files:
        text = f.read_text()
        for inc in INCLUDE.findall(text):
            assert not pathlib.PurePosixPath(inc).name.startswith("pci_virtio_"), (f, inc)
        hits = sorted(p for p in prefixes if re.search(rf"\b{p}\w", text))
        assert not hits, f"{f.relative_to(ROOT)} names devices: {hits}"
        hits = re.findall(r'"virtio-[a-z]+"', text)
        assert not hits, f"{f.relative_to(ROOT)} names devices: {hits}"


def test_checker_finds_an_exported_function(tmp_path):
    """The checker itself: a non-static function or variable in a device file is reported."""
    (tmp_path / "pci_virtio_x.c").write_text(
        "/*\n * x\n */\n#include \"a.h\"\nstatic int vtx_a(void)\n{\n\treturn 0;\n}\n"
        "int vtx_b(void)\n{\n\treturn 1;\n}\nconst int vtx_c = 2;\n")
    bad = exported_lines(tmp_path / "pci_virtio_x.c")
    assert len(bad) == 2 and "vtx_b" in bad[0] and "vtx_c" in bad[1]


def test_makefile_builds_a_new_device_file(tmp_path):
    """A new src/pci/*.c is compiled and linked into bhyve with no change to the Makefile:
    in a copy of the tree with one more device file, `make -n` builds and links it."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copytree(SRC, tmp_path / "src")
    (tmp_path / "src" / "pci" / "pci_virtio_probe.c").write_text("static int x;\n")
    out = subprocess.run(["make", "-n", "BUILD=b", "b/bhyve"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "-o b/obj/src/pci/pci_virtio_probe.o src/pci/pci_virtio_probe.c" in out.stdout
    link = [l for l in out.stdout.splitlines() if "-o b/bhyve " in l]
    assert link and "b/obj/src/pci/pci_virtio_probe.o" in link[0]


# ---- bhyvectl and bhyveload link only what they use ----

DEVICE_SYMBOLS = re.compile(r" [TtDdBbRr] (pci_de_\w+|ahci_\w+|nvme_\w+|e1000_\w+|vtblk_\w+|"
                            r"vtnet_\w+|vlapic_\w+|vioapic_\w+|platform_create|pci_bus_init|"
                            r"blockif_open|rfb_\w+|cpu_\w+|kvm_\w+|vm_setup_backend|"
                            r"vcpu_handle_exit|vm_ctl_start)$", re.M)


@pytest.mark.parametrize("name", ["bhyvectl", "bhyveload"])
def test_tools_link_no_device(name):
    """The control and loader programs do not carry the device models, the platform, the
    PCI bus, the backends, the CPU or the vCPU run loop: only bhyve does.  They open a VM's
    shared memory object; running it is bhyve's."""
    path = pathlib.Path(prog(name))
    if not path.exists():
        pytest.skip(f"{path} not built")
    syms = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=True).stdout
    assert "vm_open" in syms                       # the checker reads real symbols
    found = sorted(set(m.group(1) for m in DEVICE_SYMBOLS.finditer(syms)))
    assert not found, f"{name} links devices: {found[:20]}"
    bhyve = subprocess.run(["nm", prog("bhyve")], capture_output=True, text=True).stdout
    assert DEVICE_SYMBOLS.search(bhyve), "bhyve itself should hold the devices"
    assert re.search(r" [Tt] cpu_run$", bhyve, re.M), "bhyve itself should hold the CPU"
