"""Shared fixtures: where the build lives (BHYVE_BUILD, default build/)."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / os.environ.get("BHYVE_BUILD", "build")


@pytest.fixture(scope="session")
def build():
    return BUILD


def prog(name):
    return str(BUILD / name)

# ---- The default Debian guest (`make guest`), shared by the tests that boot it ----
GUEST = ROOT / os.environ.get("BHYVE_GUEST_DIR", "build/guest")
KERNEL = GUEST / "vmlinuz"
INITRD = GUEST / "initrd.img"
# Bounds each boot: the software CPU is an interpreter and the machine may be loaded.
BOOT_TIMEOUT = int(os.environ.get("BHYVE_BOOT_TIMEOUT", "900"))
MARKER = "bhyve-guest: init reached"
# busybox's line editor asks the terminal for the cursor position (ESC [ 6 n) right after
# printing the prompt, so the prompt need not end the output.
PROMPT = r"[#$] (\x1b\[6n)?"
needs_guest = pytest.mark.skipif(not (KERNEL.exists() and INITRD.exists()),
                                 reason="no default guest: run `make guest`")
