"""GPU smoke test of prmkit: every CUDA path once, one OK / SKIP / ERR line per check.

Made for a lent GPU machine with no network, its own torch and transformers (whatever versions
it has: the first lines print them), no vLLM and no DeepSpeed, and a few minutes of device time:
one call runs everything in about 7 minutes (tiny models built from a config, nothing
downloaded). Run it through ``scripts/gpu_smoke.sh`` (which puts this checkout's ``src`` first
on ``PYTHONPATH``)::

    bash scripts/gpu_smoke.sh                    # on the GPU machine
    bash scripts/gpu_smoke.sh --out "$OUT"       # + smoke.json (every check, its numbers)
    bash scripts/gpu_smoke.sh --dry-run          # on a CPU: CUDA-only checks print SKIP

Checks, in order:

- ``env``: GPU, torch / CUDA, transformers, accelerate; ``deps``: prmkit's required packages;
  ``extras``: which optional extras import (vllm, deepspeed, ray, peft, ...).
- ``parity <family>``: each scorer family on a tiny model built from its config, CUDA fp32 and
  CUDA bf16 against CPU fp32 (max absolute difference of the step probabilities; tolerances
  :data:`TOL_FP32` and :data:`TOL_BF16`, stated in each line).
- ``hf-policy``: the ``hf`` policy in bf16 on the GPU (batched ``generate``, step stops, token
  counts); ``search-batched``: beam search batched across problems with it, equal to the
  per-problem loop.
- ``train-bf16``: ``prmkit train --bf16`` (a few steps), then ``prmkit score`` of the checkpoint
  on the GPU in bf16, compared with CPU fp32 scores of the same checkpoint.
- ``train-fsdp-torchrun``: the same under ``torchrun`` with ``--fsdp "full_shard auto_wrap"``;
  ``train-fsdp-accelerate``: under ``accelerate launch --config_file
  examples/recipes/accelerate/fsdp.yaml``; each checkpoint then scored.
- ``deepspeed-zero2`` / ``deepspeed-zero3``, ``vllm-policy`` / ``vllm-scorer``: only where
  deepspeed / vllm import (else SKIP with the reason).

``--dry-run`` (or ``PRMKIT_SMOKE_DRY_RUN=1``) runs on the CPU: the parity check compares CPU
bf16 with CPU fp32, training runs in fp32, and the CUDA-only checks print SKIP; a test runs it
(``tests/test_gpu_smoke.py``). Exit status: 1 when any check printed ERR.

When ``math_verify`` (a prmkit dependency used for answer grading, absent from the lent
machine's image) cannot be imported, a stand-in that never proves two answers equal (prmkit's
grading then compares normalised strings only) is put on the path, and the ``deps`` line says so.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

#: max |p_cuda_fp32 - p_cpu_fp32| over every step probability (kernels and summation order)
TOL_FP32 = 1e-4
#: max |p_bf16 - p_cpu_fp32| (bf16 keeps 8 bits of mantissa: ~0.4% per rounding, through 2 layers)
TOL_BF16 = 5e-2
REQUIRED = ("torch", "transformers", "tokenizers", "safetensors", "math_verify", "typer", "rich", "numpy",
            "pyarrow", "yaml", "jinja2", "markdown_it")  # fmt: skip
EXTRAS = ("accelerate", "peft", "datasets", "ray", "vllm", "deepspeed", "trl", "openai", "fastapi", "uvicorn",
          "httpx", "gguf", "matplotlib")  # fmt: skip
FAMILIES = ("token-classification", "trl", "value-head", "skywork-prm", "qwen-prm", "qwen-prm-pieces",
            "lm-token-pair", "lm-token-pair-pieces", "chat-turn", "chat-turn-pieces", "implicit", "eurus-prm",
            "lm-likelihood")  # fmt: skip
PROBLEMS = ["Tom has 3 apples and buys 4 more. How many?", "What is 6 * 7?", "2 + 2?", "Sum 1..4?"]
STEPS = [
    ["3 + 4 = 7.", "The answer is 7."],
    ["6 * 7 = 42", "So the answer is 42"],
    ["2 + 2 = 5."],
    ["1 + 2 = 3", "3 + 3 = 6", "6 + 4 = 10", "The answer is 10."],
]


class Skip(Exception):
    """A check that does not apply here (printed as SKIP with the reason)."""


class Smoke:
    """Runs checks, prints one line each, keeps their numbers for ``smoke.json``."""

    def __init__(self, dry_run: bool, work: Path, only: set[str] | None) -> None:
        self.dry_run = dry_run
        self.work = work
        self.only = only
        self.results: list[dict[str, Any]] = []
        self.env = dict(os.environ)
        self.cuda = False

    def run(self, name: str, fn: Callable[[], Any]) -> None:
        if self.only is not None and name.split()[0] not in self.only:
            return
        t0 = time.monotonic()
        try:
            detail = fn()
            status = "OK"
        except Skip as e:
            status, detail = "SKIP", str(e)
        except Exception as e:  # noqa: BLE001 - every failure is one ERR line
            status, detail = "ERR", f"{type(e).__name__}: {e}".replace("\n", " | ")[:600]
            traceback.print_exc(file=sys.stderr)
        secs = time.monotonic() - t0
        if isinstance(detail, dict):
            numbers, text = detail, detail.pop("_text", "")
        else:
            numbers, text = {}, str(detail or "")
        self.results.append(
            {"check": name, "status": status, "detail": text, "seconds": round(secs, 1), **numbers}
        )
        print(f"{status} {name}: {text} ({secs:.1f} s)", flush=True)

    @property
    def device(self) -> str:
        return "cpu" if self.dry_run else "cuda"

    def need_cuda(self, what: str) -> None:
        if self.dry_run:
            raise Skip(f"dry run: {what} needs CUDA")
        if not self.cuda:
            raise RuntimeError(f"no CUDA GPU visible: {what} cannot run")

    def subprocess(self, cmd: list[str], timeout: float = 300) -> str:
        """Run ``cmd`` with this checkout on the path; its output tail in the error when it fails."""
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if p.returncode != 0:
            raise RuntimeError(
                f"exit {p.returncode}: {' '.join(cmd[:6])} ... | {(p.stderr or p.stdout)[-1500:]}"
            )
        return p.stdout


# ---------------------------------------------------------------- environment


def check_env(s: Smoke) -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "transformers": transformers.__version__,
        "cuda_available": torch.cuda.is_available(),
    }
    try:
        import accelerate

        info["accelerate"] = accelerate.__version__
    except ImportError:
        info["accelerate"] = None
    s.cuda = torch.cuda.is_available()
    if s.cuda:
        p = torch.cuda.get_device_properties(0)
        info |= {"gpu": p.name, "gpu_count": torch.cuda.device_count(), "gpu_memory_gib": round(p.total_memory / 2**30, 1),
                 "capability": f"{p.major}.{p.minor}", "bf16": torch.cuda.is_bf16_supported()}  # fmt: skip
    text = (f"python {info['python']}, torch {info['torch']} (CUDA {info['cuda_runtime']}), transformers "
            f"{info['transformers']}, accelerate {info['accelerate']}, ")  # fmt: skip
    if s.cuda:
        text += f"{info['gpu_count']} x {info['gpu']} ({info['gpu_memory_gib']} GiB, sm {info['capability']}, bf16 {info['bf16']})"
    elif s.dry_run:
        text += "no GPU (dry run on the CPU)"
    else:
        raise RuntimeError(text + "no CUDA GPU visible (use --dry-run on a CPU)")
    info["_text"] = text
    return info


def check_deps(s: Smoke) -> dict[str, Any]:
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    stubbed = []
    if "math_verify" in missing:  # absent from the lent GPU image: a stand-in for grading only
        stub = s.work / "stubs" / "math_verify"
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "__init__.py").write_text(
            '"""Stand-in written by scripts/gpu_smoke.py: proves nothing equal."""\n'
            "def parse(*args, **kwargs):\n    return []\n\n\ndef verify(*args, **kwargs):\n    return False\n"
        )
        sys.path.insert(0, str(stub.parent))
        s.env["PYTHONPATH"] = os.pathsep.join([str(stub.parent), *filter(None, [s.env.get("PYTHONPATH")])])
        missing.remove("math_verify")
        stubbed.append("math_verify")
    import prmkit  # noqa: F401 - the checkout's package imports
    import prmkit.cli  # noqa: F401

    if missing:
        raise RuntimeError(f"missing: {', '.join(missing)}")
    text = f"prmkit {prmkit.__version__} from {Path(prmkit.__file__).parent}; every required package imports"
    if stubbed:
        text += "; math_verify NOT installed: a stand-in is used (answer grading compares normalised strings)"
    return {"_text": text, "stubbed": stubbed}


def check_extras(s: Smoke) -> dict[str, Any]:
    found = {m: importlib.util.find_spec(m) is not None for m in EXTRAS}
    text = "importable: " + (", ".join(m for m, ok in found.items() if ok) or "none")
    text += "; not installed: " + (", ".join(m for m, ok in found.items() if not ok) or "none")
    return {"_text": text, "extras": found}


# ---------------------------------------------------------------- tiny models


def tiny_tokenizer() -> Any:
    from prmkit.models.tiny import train_tokenizer

    texts = [p + " " + " ".join(st) for p, st in zip(PROBLEMS, STEPS, strict=True)] * 3
    return train_tokenizer(texts + ["Step 1: ки + - The answer is"], vocab_size=320)


def family_scorer(family: str, models: dict[str, Any], tok: Any, device: str, dtype: str) -> Any:
    """The scorer of ``family`` around a fresh copy of its tiny model on ``device`` / ``dtype``."""
    from prmkit.scorers import SCORERS

    cls = SCORERS.get(family)
    kw = {"device": device, "dtype": dtype}
    if family in ("implicit", "eurus-prm"):
        return cls(copy.deepcopy(models["causal-lm"]), copy.deepcopy(models["ref"]), tok, beta=0.5, **kw)
    if family == "lm-likelihood":
        head = {"mu": [-3.0, -10.0, -3.0, -10.0, 1.0], "sigma": [2.0, 8.0, 2.0, 8.0, 1.0],
                "w": [0.5, 0.3, 0.5, 0.3, 0.0], "b": 0.1}  # fmt: skip
        return cls(copy.deepcopy(models["causal-lm"]), tok, meta={"likelihood_head": head}, **kw)
    kind = {"token-classification": "token-classification", "trl": "token-classification",
            "value-head": "value-head", "skywork-prm": "value-head", "qwen-prm": "qwen-prm",
            "qwen-prm-pieces": "qwen-prm"}.get(family, "causal-lm")  # fmt: skip
    return cls(copy.deepcopy(models[kind]), tok, **kw)


def max_diff(a: list[list[float | None]], b: list[list[float | None]]) -> float:
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        if len(x) != len(y):
            raise AssertionError(f"step counts differ: {x} vs {y}")
        for u, v in zip(x, y, strict=True):
            if (u is None) != (v is None):
                raise AssertionError(f"a step is scored on one side only: {x} vs {y}")
            if u is not None:
                worst = max(worst, abs(u - v))
    return worst


def check_parity(s: Smoke, family: str, models: dict[str, Any], tok: Any) -> dict[str, Any]:
    ref = family_scorer(family, models, tok, "cpu", "fp32").score_batch(PROBLEMS, STEPS)
    if not all(v is not None and 0.0 <= v <= 1.0 for row in ref for v in row):
        raise AssertionError(f"CPU fp32 scores out of [0, 1]: {ref}")
    out: dict[str, Any] = {}
    parts = []
    sides = [("cpu", "bf16")] if s.dry_run else [("cuda", "fp32"), ("cuda", "bf16")]
    for dev, dt in sides:
        got = family_scorer(family, models, tok, dev, dt).score_batch(PROBLEMS, STEPS)
        d = max_diff(got, ref)
        tol = TOL_BF16 if dt == "bf16" else TOL_FP32
        out[f"{dev}_{dt}_max_abs_diff"] = d
        parts.append(f"{dev} {dt} vs cpu fp32 max|d| {d:.1e} (tol {tol:g})")
        if not d <= tol:
            raise AssertionError("; ".join(parts))
    if s.dry_run:
        parts.append("cuda not run (dry run)")
    out["_text"] = "; ".join(parts)
    return out


# ---------------------------------------------------------------- policy and search


def causal_lm_dir(s: Smoke, models: dict[str, Any], tok: Any) -> Path:
    d = s.work / "causal-lm"
    if not (d / "config.json").is_file():
        models["causal-lm"].save_pretrained(d)
        tok.save_pretrained(d)
    return d


def check_hf_policy(s: Smoke, lm_dir: Path) -> dict[str, Any]:
    import torch

    from prmkit.policies.hf import HFPolicy
    from prmkit.worlds.arith import generate_problems

    dtype = "fp32" if s.dry_run else "bf16"
    want = torch.float32 if s.dry_run else torch.bfloat16
    pol = HFPolicy(str(lm_dir), temperature=1.0, max_new_tokens=24, step_max_new_tokens=12, batch_size=16,
                   device=s.device, dtype=want, final_answer_ends=False)  # fmt: skip
    p = next(pol.model.parameters())
    if p.dtype != want or p.device.type != s.device:
        raise AssertionError(f"policy model on {p.device} {p.dtype}, wanted {s.device} {want}")
    problems = generate_problems(4, seed=0, max_ops=2)
    gens = pol.continue_from(problems, [[] for _ in problems], n=4, max_steps=1, seed=1)
    again = pol.continue_from(problems, [[] for _ in problems], n=4, max_steps=1, seed=1)
    n = sum(len(r) for r in gens)
    tokens = sum(g.num_tokens for r in gens for g in r)
    if n != 16 or not all(0 < g.num_tokens <= 12 and len(g.steps) <= 1 for r in gens for g in r):
        raise AssertionError(f"{n} generations, token counts {[g.num_tokens for r in gens for g in r]}")
    same = [[g.steps for g in r] for r in gens] == [[g.steps for g in r] for r in again]
    if not same:
        raise AssertionError("the same seed gave other samples")
    return {"_text": f"{s.device} {dtype}: 16 samples ({tokens} tokens) in one batch, seeded (equal on rerun)",
            "generated_tokens": tokens}  # fmt: skip


def check_search_batched(s: Smoke, lm_dir: Path) -> dict[str, Any]:
    import torch

    from prmkit.policies.hf import HFPolicy
    from prmkit.scorers import load_scorer
    from prmkit.search import SearchConfig
    from prmkit.search.driver import search_iter
    from prmkit.worlds.arith import generate_problems

    dtype = "fp32" if s.dry_run else "bf16"
    pol = HFPolicy(str(lm_dir), temperature=1.0, max_new_tokens=24, step_max_new_tokens=8, batch_size=64,
                   device=s.device, dtype=torch.float32 if s.dry_run else torch.bfloat16,
                   final_answer_ends=False)  # fmt: skip
    scorer = load_scorer("calculator", None)
    problems = generate_problems(6, seed=1, max_ops=2)
    rows = {}
    times = {}
    for k in (1, 6):
        cfg = SearchConfig(method="beam", n=4, width=2, max_steps=3, batch_problems=k)
        t0 = time.monotonic()
        res = [r.to_dict() for r in search_iter(problems, pol, scorer, cfg)]
        times[k] = time.monotonic() - t0
        for r in res:
            r["compute"].pop("wall_time_s", None)
        rows[k] = res
    if rows[1] != rows[6]:
        raise AssertionError("beam search batched across 6 problems differs from the per-problem loop")
    tokens = sum(r["compute"]["generated_tokens"] for r in rows[6])
    return {"_text": f"beam N=4 M=2, 6 problems, hf {dtype} on {s.device} + calculator: batched == per-problem "
                     f"({tokens} tokens; {times[1]:.1f} s per-problem, {times[6]:.1f} s batched)",
            "per_problem_s": times[1], "batched_s": times[6]}  # fmt: skip


# ---------------------------------------------------------------- training


def train_data(s: Smoke) -> Path:
    from prmkit.records import write_records
    from prmkit.worlds.arith import make_bench

    path = s.work / "train.jsonl"
    if not path.is_file():
        write_records(path, make_bench(64, seed=3, max_ops=3))
    return path


TRAIN_ARGS = ["--init", "tiny", "--tiny-hidden", "64", "--tiny-layers", "2", "--tiny-heads", "4", "--tiny-vocab", "400",
              "--batch-size", "8", "--logging-steps", "1", "--lr", "3e-3", "--eval-fraction", "0.1",
              "--seed", "3"]  # fmt: skip


def trained_and_scored(
    s: Smoke, name: str, launcher: list[str], extra: list[str], steps: int
) -> dict[str, Any]:
    """``prmkit train`` under ``launcher``, then ``prmkit score`` of the checkpoint on the device,
    compared with CPU fp32 scores of the same checkpoint."""
    data = train_data(s)
    out = s.work / name
    shutil.rmtree(out, ignore_errors=True)
    device_args = ["--bf16"] if not s.dry_run else ["--threads", "1"]
    s.subprocess([*launcher, "-m", "prmkit", "--quiet", "train", *TRAIN_ARGS, *device_args, *extra,
                  "--max-steps", str(steps), "--data", str(data), "--out", str(out)], timeout=400)  # fmt: skip
    summary = json.loads((out / "train_summary.json").read_text())
    losses = [r["loss"] for r in summary.get("history", []) if "loss" in r] or [
        json.loads(x)["loss"] for x in (out / "train_log.jsonl").read_text().splitlines() if '"loss"' in x
    ]
    if summary["global_step"] != steps or not losses or not all(v == v and v < 1e3 for v in losses):
        raise AssertionError(f"global_step {summary['global_step']}, losses {losses}")
    if not (out / "prmkit.json").is_file() or not list(out.glob("*.safetensors")):
        raise AssertionError(f"no checkpoint in {out}: {sorted(p.name for p in out.iterdir())}")
    dtype = "fp32" if s.dry_run else "bf16"
    scored = s.work / f"{name}-scored.jsonl"
    scored.unlink(missing_ok=True)
    s.subprocess([sys.executable, "-m", "prmkit", "--quiet", "score", "--prm", str(out), "--in", str(data),
                  "--out", str(scored), "--device", s.device, "--dtype", dtype])  # fmt: skip
    got = [json.loads(x)["scores"] for x in scored.read_text().splitlines()]
    from prmkit.records import read_records
    from prmkit.scorers import load_scorer

    recs = list(read_records(data))
    ref = load_scorer(None, str(out), device="cpu", dtype="fp32").score_batch(
        [r.problem for r in recs], [r.steps for r in recs]
    )
    d = max_diff(got, ref)
    tol = TOL_BF16 if dtype == "bf16" else TOL_FP32
    if not d <= tol:
        raise AssertionError(f"prmkit score {s.device} {dtype} vs cpu fp32: max|d| {d:.2e} > {tol}")
    n = sum(len(x) for x in got)
    mode = "fp32 (dry run), " if s.dry_run else "bf16, "
    return {"_text": f"{mode}{steps} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}, checkpoint written; prmkit score "
                     f"{s.device} {dtype}: {n} steps, max|d| vs cpu fp32 {d:.1e} (tol {tol:g})",
            "losses": losses, "score_max_abs_diff": d}  # fmt: skip


def check_train_bf16(s: Smoke) -> dict[str, Any]:
    return trained_and_scored(s, "train-bf16", [sys.executable], [], steps=2 if s.dry_run else 8)


def check_fsdp_torchrun(s: Smoke) -> dict[str, Any]:
    s.need_cuda("FSDP")
    import torch

    n = min(2, torch.cuda.device_count())
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"]
    r = trained_and_scored(s, "train-fsdp-torchrun", launcher, ["--fsdp", "full_shard auto_wrap"], steps=6)
    r["_text"] = f"torchrun {n} process(es): " + r["_text"]
    return r


def check_fsdp_accelerate(s: Smoke) -> dict[str, Any]:
    s.need_cuda("FSDP")
    if importlib.util.find_spec("accelerate") is None:
        raise Skip("accelerate is not installed")
    import torch

    n = min(2, torch.cuda.device_count())
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(ROOT / "examples/recipes/accelerate/fsdp.yaml"), "--num_processes", str(n),
                "--main_process_port", "29631"]  # fmt: skip
    r = trained_and_scored(s, "train-fsdp-accelerate", launcher, [], steps=6)
    r["_text"] = f"accelerate fsdp.yaml, {n} process(es): " + r["_text"]
    return r


def check_deepspeed(s: Smoke, stage: int) -> dict[str, Any]:
    if importlib.util.find_spec("deepspeed") is None:
        raise Skip("deepspeed is not installed")
    s.need_cuda("DeepSpeed")
    import torch

    n = min(2, torch.cuda.device_count())
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"]
    ds = str(ROOT / f"examples/recipes/ds_zero{stage}.json")
    r = trained_and_scored(s, f"train-zero{stage}", launcher, ["--deepspeed", ds], steps=6)
    r["_text"] = f"torchrun {n} process(es), ds_zero{stage}.json: " + r["_text"]
    return r


# ---------------------------------------------------------------- vLLM


def check_vllm_policy(s: Smoke, lm_dir: Path) -> str:
    from prmkit.policies.vllm import vllm_unavailable_reason

    if importlib.util.find_spec("vllm") is None:
        raise Skip("vllm is not installed")
    s.need_cuda("vLLM")
    reason = vllm_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    from prmkit.policies import load_policy
    from prmkit.worlds.arith import generate_problems

    pol = load_policy("vllm", model=str(lm_dir), max_tokens=16, gpu_memory_utilization=0.3, enforce_eager=True,
                      tensor_parallel_size=1, enable_prefix_caching=True)  # fmt: skip
    problems = generate_problems(4, seed=0, max_ops=2)
    a = pol.continue_from(problems, [[] for _ in problems], n=2, max_steps=1, seed=1)
    b = pol.continue_from(problems, [[] for _ in problems], n=2, max_steps=1, seed=1)
    if [[g.steps for g in r] for r in a] != [[g.steps for g in r] for r in b]:
        raise AssertionError("the same seed gave other samples")
    pol.close()
    return f"8 samples, {sum(g.num_tokens for r in a for g in r)} tokens, seeded"


def check_vllm_scorer(s: Smoke, models: dict[str, Any], tok: Any) -> str:
    if importlib.util.find_spec("vllm") is None:
        raise Skip("vllm is not installed")
    s.need_cuda("vLLM")
    d = s.work / "tc"
    models["token-classification"].save_pretrained(d)
    tok.save_pretrained(d)
    from prmkit.scorers import load_scorer

    ref = load_scorer("token-classification", str(d), device="cpu", dtype="fp32").score_batch(PROBLEMS, STEPS)
    got = load_scorer("vllm", str(d), render_format="token-classification", dtype="fp32", max_length=256,
                      enforce_eager=True, gpu_memory_utilization=0.3).score_batch(PROBLEMS, STEPS)  # fmt: skip
    diff = max_diff(got, ref)
    if not diff <= 1e-3:
        raise AssertionError(f"vLLM fp32 vs transformers cpu fp32 max|d| {diff:.2e} > 1e-3")
    return f"token-classification through vLLM pooling fp32 vs transformers cpu fp32: max|d| {diff:.1e} (tol 1e-3)"


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", default=os.environ.get("PRMKIT_SMOKE_DRY_RUN") == "1",
                    help="run on the CPU; CUDA-only checks print SKIP (also PRMKIT_SMOKE_DRY_RUN=1)")  # fmt: skip
    ap.add_argument("--out", help="folder for smoke.json (every check, status, numbers)")
    ap.add_argument("--only", help="comma-separated check names (first word: env, parity, train-bf16, ...)")
    ap.add_argument("--work", help="scratch folder (default: a new temporary one, removed at the end)")
    args = ap.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="prmkit-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    s = Smoke(args.dry_run, work, set(args.only.split(",")) if args.only else None)
    s.env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [s.env.get("PYTHONPATH")])])
    s.env.setdefault("PRMKIT_QUIET", "1")
    os.environ.setdefault("PRMKIT_QUIET", "1")
    s.env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.dry_run:
        s.env["CUDA_VISIBLE_DEVICES"] = ""
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        s.env.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.monotonic()
    print(
        f"prmkit GPU smoke ({'DRY RUN on the CPU' if args.dry_run else 'CUDA'}), work dir {work}", flush=True
    )
    s.only, only = None, s.only  # env and deps always run: the rest needs them
    s.run("env", lambda: check_env(s))
    s.run("deps", lambda: check_deps(s))
    s.only = only
    if any(r["status"] == "ERR" for r in s.results):
        print("ERR smoke: stopped after the environment checks", flush=True)
        return finish(s, args, t0, work)
    s.run("extras", lambda: check_extras(s))
    import torch

    if args.dry_run:
        torch.set_num_threads(1)
    from prmkit.models.tiny import build_tiny_model

    tok = tiny_tokenizer()
    kw = dict(hidden_size=32, num_layers=2, num_heads=2)
    models = {
        "token-classification": build_tiny_model("token-classification", tok, arch="llama", **kw),
        "value-head": build_tiny_model("value-head", tok, **kw),
        "qwen-prm": build_tiny_model("qwen-prm", tok, **kw),
        "causal-lm": build_tiny_model("causal-lm", tok, arch="llama", seed=3, **kw),
        "ref": build_tiny_model("causal-lm", tok, arch="llama", seed=4, **kw),
    }
    for family in FAMILIES:
        s.run(f"parity {family}", lambda f=family: check_parity(s, f, models, tok))
    lm_dir = causal_lm_dir(s, models, tok)
    s.run("hf-policy", lambda: check_hf_policy(s, lm_dir))
    s.run("search-batched", lambda: check_search_batched(s, lm_dir))
    s.run("train-bf16", lambda: check_train_bf16(s))
    s.run("train-fsdp-torchrun", lambda: check_fsdp_torchrun(s))
    s.run("train-fsdp-accelerate", lambda: check_fsdp_accelerate(s))
    s.run("deepspeed-zero2", lambda: check_deepspeed(s, 2))
    s.run("deepspeed-zero3", lambda: check_deepspeed(s, 3))
    s.run("vllm-policy", lambda: check_vllm_policy(s, lm_dir))
    s.run("vllm-scorer", lambda: check_vllm_scorer(s, models, tok))
    return finish(s, args, t0, work)


def finish(s: Smoke, args: argparse.Namespace, t0: float, work: Path) -> int:
    counts = {k: sum(r["status"] == k for r in s.results) for k in ("OK", "SKIP", "ERR")}
    total = time.monotonic() - t0
    print(
        f"summary: {counts['OK']} OK, {counts['SKIP']} SKIP, {counts['ERR']} ERR in {total:.0f} s", flush=True
    )
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        report = {"dry_run": s.dry_run, "seconds": round(total, 1), "counts": counts, "checks": s.results,
                  "tolerances": {"fp32": TOL_FP32, "bf16": TOL_BF16}}  # fmt: skip
        (Path(args.out) / "smoke.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if counts["ERR"] else 0


if __name__ == "__main__":
    sys.exit(main())
