"""Runs every C unit-test program (build/tests/test_*); each exits 0 only if all its checks pass."""
import subprocess

import pytest

from conftest import BUILD

UNIT = sorted(p for p in (BUILD / "tests").glob("test_*") if p.is_file() and p.stat().st_mode & 0o111)


@pytest.mark.parametrize("binary", UNIT, ids=[p.name for p in UNIT])
def test_unit(binary):
    r = subprocess.run([str(binary)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"{binary.name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
