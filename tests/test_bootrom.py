"""A boot ROM of our own (tests/guests/rom_hello.asm) run with `-l bootrom,FILE`: it starts at
the reset vector in real mode, prints on COM1 and resets through 0xCF9 (exit status 0)."""
import os
import subprocess

import pytest

from conftest import BUILD, ROOT, prog

ROM = BUILD / "tests" / "guests" / "rom_hello.bin"
if not ROM.exists():
    ROM = ROOT / "build" / "tests" / "guests" / "rom_hello.bin"


@pytest.mark.skipif(not ROM.exists(), reason="make guests not run")
def test_bootrom_reset_vector():
    name = f"rom-{os.getpid()}"
    try:
        r = subprocess.run([prog("bhyve"), "-m", "64M", "-s", "0,hostbridge", "-s", "1,lpc",
                            "-l", "com1,stdio", "-l", f"bootrom,{ROM}", name],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    finally:
        subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
    out = r.stdout.decode(errors="replace")
    assert "rom: hello from the reset vector" in out, (out, r.stderr)
    assert r.returncode == 0, r.stderr
