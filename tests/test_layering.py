"""The direction of dependence between the folders of src/, read from the #include lines
(docs/ARCHITECTURE.md): cmd/ assembles a VM; the devices (platform/, pci/) use the VM interface
(vmm/); vmm/ uses cpu/; backends/, loader/ and common/ sit below.  So the folder graph has no
cycle, vmm/ includes nothing from platform/ or pci/, and only vmm/ sees the VM's internals."""
import pathlib
import re

from conftest import ROOT

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
