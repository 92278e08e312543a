"""Reward-server overload benchmark (issue #20 item 4): a burst of ~10x what the server can
answer within its request timeout, all requests sent at the same instant.

Steps, against one real ``prmkit serve`` process on loopback (a random tiny token-classification
PRM, arithmetic-world solutions, dynamic batching on):

1. *unloaded*: sequential requests, their p50 latency;
2. *capacity*: requests/s, the better of sequential requests and a closed loop of 4 clients
   (backing off 50 ms after a 429); the burst size is ``overload`` x
   (requests/s x request timeout), capped at ``--max-burst`` (the overload factor actually reached
   is recorded);
3. *burst*: every request on its own connection, sent at once; status codes, p50/p99 latency of
   the 200s and of the 429s, every 200 checked (one score per step);
4. *drain*: ``/health`` polled after the last answer until ``queue_depth`` is 0;
5. *follow-up*: sequential requests again, p50 against the unloaded p50;
6. server RSS before the burst and after the follow-up.

Target (issue #20): only 200 and 429 in the burst (no 504, no 5xx), the queue empty within 1 s of
the last answer, the follow-up at its unloaded latency.

Usage::

    nice -n 10 python benchmarks/serve_overload.py [--timeout 2.0] [--overload 10] [--max-burst 600]
        [--out benchmarks/results/serve_overload.json]
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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import _post, arith_solutions, encode_request, make_tiny  # noqa: E402
from serve_util import ServerProcess, free_port, prmkit_serve_argv  # noqa: E402


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(q * len(xs)))]


async def _one(port: int, raw: bytes) -> tuple[int, float, bytes]:
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        status, body = await _post(reader, writer, raw)
    finally:
        writer.close()
    return status, time.perf_counter() - t0, body


async def _sequential(port: int, raws: list[bytes], n: int) -> list[float]:
    out = []
    for i in range(n):
        status, dt, body = await _one(port, raws[i % len(raws)])
        if status != 200:
            raise RuntimeError(f"status {status}: {body[:200]!r}")
        out.append(dt)
    return out


async def _closed_loop(port: int, raws: list[bytes], clients: int, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def client(k: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < stop:
                status, _ = await _post(reader, writer, raws[i % len(raws)])
                if status == 200:
                    done += 1
                else:  # refused: back off instead of spinning on 429s
                    await asyncio.sleep(0.05)
                i += clients
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return done / (time.perf_counter() - t0)


async def _burst(port: int, raws: list[bytes], n_steps: list[int], n: int) -> dict:
    gate = asyncio.Event()

    async def one(i: int) -> tuple[int, float, dict]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await gate.wait()
            t0 = time.perf_counter()
            status, body = await _post(reader, writer, raws[i % len(raws)])
            dt = time.perf_counter() - t0
        finally:
            writer.close()
        info: dict = {}
        if status == 200:
            res = json.loads(body)["results"]
            info["ok"] = len(res) == 1 and len(res[0]["step_scores"]) == n_steps[i % len(raws)]
        return status, dt, info

    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    await asyncio.sleep(0.5)  # every connection is open
    gate.set()
    res = await asyncio.gather(*tasks)
    last_answer = time.perf_counter()
    return {"results": res, "last_answer": last_answer}


async def _drain(port: int, last_answer: float) -> float:
    while True:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET /health HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    ln.split(b":")[1]
                    for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"content-length")
                )
            )
            body = json.loads(await reader.readexactly(length))
        finally:
            writer.close()
        if body["queue_depth"] == 0:
            return time.perf_counter() - last_answer
        await asyncio.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=2.0, help="server --request-timeout (s)")
    ap.add_argument("--overload", type=float, default=10.0, help="burst size / what fits in the timeout")
    ap.add_argument("--max-burst", type=int, default=600, help="cap on the burst size (client CPU)")
    ap.add_argument("--sequential", type=int, default=20, help="requests for the unloaded/follow-up p50")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve_overload.json"))
    args = ap.parse_args()

    sols = arith_solutions(64)
    with tempfile.TemporaryDirectory() as d:
        prm = make_tiny(Path(d) / "prm", sols, 32, 1, 2, 300)
        port = free_port()
        argv = prmkit_serve_argv(prm, port, "--request-timeout", str(args.timeout), "--max-queue", "4096",
                                 "--max-wait-ms", "0")  # fmt: skip
        with ServerProcess(argv, port, timeout=900) as srv:
            raws = [encode_request(port, s) for s in sols]
            n_steps = [len(s["steps"]) for s in sols]
            asyncio.run(_sequential(port, raws, 5))  # warm
            unloaded = asyncio.run(_sequential(port, raws, args.sequential))
            # capacity: the better of one client in sequence and a closed loop of 4 clients (more
            # clients would be refused with 429 by the admission control being measured)
            rps = max(1 / statistics.median(unloaded), asyncio.run(_closed_loop(port, raws, 4, 3.0)))
            fits = rps * args.timeout
            burst_n = int(min(args.max_burst, max(20, round(args.overload * fits))))
            rss_before = srv.rss_kb()
            b = asyncio.run(_burst(port, raws, n_steps, burst_n))
            drain = asyncio.run(_drain(port, b["last_answer"]))
            follow = asyncio.run(_sequential(port, raws, args.sequential))
            rss_after = srv.rss_kb()
            metrics = asyncio.run(_metrics(port))
    codes = Counter(s for s, _, _ in b["results"])
    ok_lat = [dt for s, dt, _ in b["results"] if s == 200]
    rej_lat = [dt for s, dt, _ in b["results"] if s == 429]
    result = {
        "timeout_s": args.timeout,
        "capacity_requests_per_s": rps,
        "fits_in_timeout": fits,
        "burst": burst_n,
        "overload_factor": burst_n / fits if fits else None,
        "codes": {str(k): v for k, v in sorted(codes.items())},
        "all_200_correct": all(i.get("ok") for s, _, i in b["results"] if s == 200),
        "burst_200_p50_ms": _pct(ok_lat, 0.5),
        "burst_200_p99_ms": _pct(ok_lat, 0.99),
        "burst_429_p50_ms": _pct(rej_lat, 0.5),
        "burst_429_p99_ms": _pct(rej_lat, 0.99),
        "queue_drain_s_after_last_answer": drain,
        "unloaded_p50_ms": 1000 * statistics.median(unloaded),
        "follow_up_p50_ms": 1000 * statistics.median(follow),
        "rss_kb_before": rss_before,
        "rss_kb_after": rss_after,
        "server_metrics": metrics,
        "target_met": {
            "only_200_429": set(codes) <= {200, 429},
            "queue_empty_within_1s": drain <= 1.0,
            "follow_up_within_2x_unloaded": statistics.median(follow) <= 2 * statistics.median(unloaded),
        },
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg": list(os.getloadavg()),
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "server_metrics"}, indent=1))


async def _metrics(port: int) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length"))
        )
        text = (await reader.readexactly(length)).decode()
    finally:
        writer.close()
    keep = (
        "prmkit_rejected_total",
        "prmkit_dropped_total",
        "prmkit_queue_depth",
        "prmkit_solutions_scored_total",
    )
    return {ln.split()[0]: float(ln.split()[1]) for ln in text.splitlines() if ln.startswith(keep)}


if __name__ == "__main__":
    main()
