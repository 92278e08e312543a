"""Shared test fixtures: the reference data location (skip cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PRMKIT_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# pytest-xdist runs 2 workers on 2 cores: one torch thread each avoids oversubscription (which
# made small-model forwards 10-27x slower on a busy CPU)
os.environ.setdefault("OMP_NUM_THREADS", "1")

_DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_dir() -> Path | None:
    """``$PRMKIT_DATA`` or ``../shared/data`` beside the checkout, when present."""
    env = os.environ.get("PRMKIT_DATA")
    p = Path(env) if env else _DEFAULT_DATA
    return p if p.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the reference data; skips the test with a reason when it is absent."""
    p = data_dir()
    if p is None:
        pytest.skip("reference data not found: set PRMKIT_DATA or place it at ../shared/data")
    return p
