"""The GPU smoke script's CPU dry run (``scripts/gpu_smoke.sh --dry-run``): every check runs or
says why not, one OK / SKIP / ERR line each, no ERR; the CUDA-only checks SKIP. On a quiet
2-core CPU the dry run takes ~15 s (two of them are ``prmkit train`` / ``prmkit score``
subprocesses)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(OK|SKIP|ERR) ([a-z0-9-]+(?: [a-z0-9-]+)?): .* \(\d+\.\d s\)$")


def _smoke(*args: str, tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    return subprocess.run(["bash", str(ROOT / "scripts" / "gpu_smoke.sh"), *args, "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_dry_run_every_check_one_line_no_error(tmp_path):
    p = _smoke("--dry-run", tmp_path=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    lines = [x for x in p.stdout.splitlines()[1:] if not x.startswith("summary:")]
    assert lines and all(LINE.match(x) for x in lines), lines
    status = {LINE.match(x)[2]: LINE.match(x)[1] for x in lines}
    assert "ERR" not in status.values()
    families = [k for k in status if k.startswith("parity ")]
    assert len(families) == 13 and all(status[k] == "OK" for k in families)
    for name in ("env", "deps", "extras", "hf-policy", "search-batched", "train-bf16"):
        assert status[name] == "OK", name
    for name in ("train-fsdp-torchrun", "train-fsdp-accelerate", "deepspeed-zero2", "deepspeed-zero3",
                 "vllm-policy", "vllm-scorer"):  # fmt: skip
        assert status[name] == "SKIP", name
    report = json.loads((tmp_path / "smoke.json").read_text())
    assert report["dry_run"] and report["counts"]["ERR"] == 0
    tc = next(c for c in report["checks"] if c["check"] == "parity token-classification")
    assert tc["cpu_bf16_max_abs_diff"] <= report["tolerances"]["bf16"]


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="a GPU is visible: the real run would start"
)
def test_without_a_gpu_the_real_run_stops_with_an_error(tmp_path):
    p = _smoke(tmp_path=tmp_path, timeout=120)
    assert p.returncode == 1
    assert re.search(r"^ERR env: .*no CUDA GPU visible", p.stdout, re.MULTILINE), p.stdout
    assert "ERR smoke: stopped after the environment checks" in p.stdout
