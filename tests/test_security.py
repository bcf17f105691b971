"""Hostile guests and hostile local users against bhyve (README "Security").

- Registry growth: tests/guests/hostile_decode.asm turns a virtio device's decoding off and
  on 10^6 times; each toggle re-registers its BARs, and bhyve's resident memory must stay
  flat (sampled after 10^5 and after 10^6 toggles; a leak of the old registry copies grew it
  by over a gigabyte).
"""
import os
import subprocess

import pytest

from conftest import BUILD, prog

HOSTILE_DECODE = BUILD / "tests" / "guests" / "hostile_decode.bin"
MIB = 1 << 20


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_decode_toggles_keep_memory_flat():
    if not HOSTILE_DECODE.exists():
        pytest.skip("make guests not run")
    name = f"hostile-decode-{os.getpid()}"
    cmd = [prog("bhyve"), "-m", "32M", "-c", "2", "-s", "0,hostbridge", "-s", "3,virtio-rnd",
           "-s", "31,lpc", "-l", "com1,stdio",
           "-o", f"loader.kernel={HOSTILE_DECODE}", name]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    rss = {}
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            if line.startswith("hostile: mark "):
                rss[int(line.split()[2], 16)] = rss_bytes(p.pid)
        p.wait(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
    out = "".join(lines) + p.stderr.read()
    assert "plat: done" in out, out
    assert p.returncode == 1, out
    assert sorted(rss) == list(range(1, 11)), out
    # 9 * 10^5 toggles between the samples; the leak cost over 1 KiB per toggle.
    assert rss[10] - rss[1] < 48 * MIB, rss
