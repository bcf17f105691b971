"""Device writes into guest code: tests/guests/dma_code.asm (Multiboot) runs two functions,
has virtio-blk read new code over each (one in a page of its own, one in the page that holds the
loop waiting for the device), runs them again and must get the new results.  The software CPU
caches decoded code per page, so every device write into guest RAM has to drop it there.
Skipped while the software CPU is not part of the build."""
import os
import subprocess

import pytest

from conftest import BUILD, prog

GUEST = BUILD / "tests" / "guests" / "dma_code.bin"


def sector(value):
    code = bytes([0xB8]) + value.to_bytes(4, "little") + bytes([0xC3])   # mov eax, value; ret
    return code + bytes([0xCC]) * (512 - len(code))


def test_dma_over_code_runs_new_code(tmp_path):
    if not GUEST.exists():
        pytest.skip("make guests not run")
    img = tmp_path / "code.img"
    img.write_bytes(sector(0xA1) + sector(0xB2) + bytes(7 * 512))
    name = f"dma-{os.getpid()}"
    cmd = [prog("bhyve"), "-m", "64M", "-s", "0,hostbridge", "-s", f"2,virtio-blk,{img}",
           "-s", "31,lpc", "-l", "com1,stdio", "-o", f"loader.kernel={GUEST}", name]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
    if "not part of this build yet" in r.stderr:
        pytest.skip(r.stderr.strip())
    out = r.stdout + r.stderr
    assert "dma: dma-code-page ran 000000A1 memory 000000A1" in r.stdout, out
    assert "dma: dma-code-busy ran 000000B2 memory 000000B2" in r.stdout, out
    assert "FAIL" not in out, out
    assert "plat: done" in r.stdout, out
    assert r.returncode == 1, out            # powered off through ACPI S5
