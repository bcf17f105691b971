"""Emulations that are parsed and validated but have no device model yet (e1000,
hda, PCI uart): config.dump accepts them, starting a VM with one fails with exit
status 4 and a one-line "not implemented" naming it, and no VM object is left behind."""
import os
import subprocess

import pytest

from conftest import BUILD, ROOT, prog

ROM = BUILD / "tests" / "guests" / "rom_hello.bin"
if not ROM.exists():
    ROM = ROOT / "build" / "tests" / "guests" / "rom_hello.bin"

DEVICES = [
    ("e1000", "e1000,tap0"),
    ("hda", "hda,play=/dev/dsp0"),
    ("uart", "uart"),
]


def bhyve(args, **kw):
    return subprocess.run([prog("bhyve")] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, **kw)


@pytest.mark.parametrize("name,slot", DEVICES, ids=[d[0] for d in DEVICES])
def test_config_dump_accepts(tmp_path, name, slot):
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * 65536)
    r = bhyve(["-o", "config.dump=true", "-s", "0,hostbridge", "-s", "1,lpc",
               "-s", "3," + slot.format(img=img), "vm1"])
    assert r.returncode == 0, r.stderr
    assert "pci.0.3.0.device=" + slot.split(",")[0] in r.stdout


@pytest.mark.skipif(not ROM.exists(), reason="make guests not run")
@pytest.mark.parametrize("name,slot", DEVICES, ids=[d[0] for d in DEVICES])
def test_start_refused(tmp_path, name, slot):
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * 65536)
    vm = f"parseonly-{os.getpid()}-{name}"
    try:
        r = bhyve(["-m", "64M", "-s", "0,hostbridge", "-s", "1,lpc",
                   "-s", "3," + slot.format(img=img), "-l", f"bootrom,{ROM}", vm])
        left = os.path.exists(f"/dev/shm/bhyve.{vm}")
    finally:
        subprocess.run([prog("bhyvectl"), f"--vm={vm}", "--destroy"], capture_output=True)
    emu = slot.split(",")[0]
    assert r.returncode == 4, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bhyve: "), r.stderr
    assert f"{emu} at 0:3:0: not implemented" in lines[0], r.stderr
    assert not left, "the VM object was left behind"
