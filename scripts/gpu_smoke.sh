#!/usr/bin/env bash
# prmkit GPU smoke test: one call, about 7 minutes on a GPU machine with no network.
# Prints one OK / SKIP / ERR line per check (environment, scorer parity CUDA fp32/bf16 vs CPU fp32,
# hf policy and batched search in bf16, bf16 training + torchrun/accelerate FSDP, each checkpoint
# scored; DeepSpeed and vLLM only where they import). Exit status 1 when any check failed.
#
#   bash scripts/gpu_smoke.sh                  # on the GPU machine (its own python3, torch, transformers)
#   bash scripts/gpu_smoke.sh --out "$OUT"     # + OUT/smoke.json with every number
#   bash scripts/gpu_smoke.sh --dry-run        # on a CPU: CUDA-only checks print SKIP (tests/test_gpu_smoke.py)
#
# PYTHON=... picks the interpreter (default: python3). Wheels in .whl/ (e.g. math-verify, carried to a
# machine without network) are installed into a scratch folder first. See scripts/gpu_smoke.py.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/prmkit-smoke-site .whl/*.whl && export PYTHONPATH="/tmp/prmkit-smoke-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PY" scripts/gpu_smoke.py "$@"
