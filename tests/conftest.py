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
