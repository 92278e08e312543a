"""Reward-server overload benchmark (issue #20 item 4): a burst of 10x what a real model server can
answer within its request timeout, every request sent at the same instant.

Against real ``prmkit serve`` processes on loopback, serving a neural PRM: by default a random
token classifier of the embedded default PRM's size (qwen2 layout, hidden 128, 4 layers, vocab
600: what ``prmkit train --init tiny`` builds; ``--model tiny`` for the 26k-parameter one) on
arithmetic-world solutions, dynamic batching on, ``--max-wait-ms 0``:

1. *capacity* (a first server, ``--request-timeout 60``, so nothing is refused): the saturated
   throughput of a closed loop of ``--capacity-clients`` keep-alive clients (batches form as they
   would in the burst), in requests/s;
2. the request timeout of the burst server: ``--timeout`` when given, else the one at which the
   burst (``--max-burst`` requests) is ``--overload`` x what fits in it (``capacity x timeout``),
   at least ``--min-timeout``; the burst size is ``overload x capacity x timeout``, capped at
   ``--max-burst`` (the factor reached is recorded);
3. a second server with that ``--request-timeout``: warm-up (its cost model is measured on real
   batches), then *unloaded* latency (sequential requests, p50);
4. *burst*: every request on its own connection, all connected first, then sent at once; status
   codes, p50/p99 latency of the 200s and of the 429s, every 200 checked (one score per step);
5. *drain*: ``/health`` polled from the last answer until ``queue_depth`` is 0;
6. *follow-up*: the first request after the drain, then sequential requests (p50), against the
   unloaded latency;
7. the server's RSS before the burst and after the follow-up; its ``/metrics`` counters.

Target (issue #20): only 200 and 429 in the burst (no 504, no 5xx), the queue empty within 1 s of
the last answer, the follow-up served at its unloaded latency (p50 within 1.5x).

Usage (about 30 s on an idle 2-core machine; the client shares the CPU with the server)::

    python benchmarks/serve_overload.py [--model embedded|tiny] [--overload 10] [--max-burst 1000]
        [--timeout S] [--out benchmarks/results/serve_overload.json]

Smoke run (seconds, not a result): ``--model tiny --max-burst 40 --capacity-seconds 1 --sequential 5
--out /tmp/overload.json``.
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

#: hidden, layers, heads, vocab (benchmarks/serve_load.py's setups)
MODELS = {"embedded": (128, 4, 4, 600), "tiny": (32, 1, 2, 300)}


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(q * len(xs)))]


async def _one(port: int, raw: bytes) -> tuple[int, float, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        t0 = time.perf_counter()
        status, body = await _post(reader, writer, raw)
        return status, time.perf_counter() - t0, body
    finally:
        writer.close()


async def _sequential(port: int, raws: list[bytes], n: int) -> list[float]:
    out = []
    for i in range(n):
        status, dt, body = await _one(port, raws[i % len(raws)])
        if status != 200:
            raise RuntimeError(f"status {status}: {body[:200]!r}")
        out.append(dt)
    return out


async def _follow_up(port: int, raws: list[bytes], n: int) -> tuple[list[float], Counter]:
    """Sequential requests after the burst: latencies of the 200s and every status seen (a refused
    one is retried after its Retry-After, and counts against the target)."""
    out, codes = [], Counter()
    for i in range(n):
        while True:
            status, dt, body = await _one(port, raws[i % len(raws)])
            codes[status] += 1
            if status == 200:
                out.append(dt)
                break
            await asyncio.sleep(0.1)
    return out, codes


async def _closed_loop(port: int, raws: list[bytes], clients: int, seconds: float) -> dict:
    """Saturated throughput: ``clients`` keep-alive clients sending back to back for ``seconds``."""
    done, codes = 0, Counter()
    stop = time.perf_counter() + seconds

    async def client(k: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < stop:
                status, _ = await _post(reader, writer, raws[i % len(raws)])
                codes[status] += 1
                if status == 200:
                    done += 1
                else:  # refused: back off instead of spinning
                    await asyncio.sleep(0.05)
                i += clients
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    return {"requests_per_s": done / wall, "codes": {str(k): v for k, v in sorted(codes.items())}}


async def _burst(port: int, raws: list[bytes], n_steps: list[int], n: int) -> dict:
    gate = asyncio.Event()
    connected = 0

    async def one(i: int) -> tuple[int, float, dict]:
        nonlocal connected
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connected += 1
        try:
            await gate.wait()
            t0 = time.perf_counter()
            try:
                status, body = await _post(reader, writer, raws[i % len(raws)])
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                return -1, time.perf_counter() - t0, {"error": repr(e)}
            dt = time.perf_counter() - t0
        finally:
            writer.close()
        info: dict = {}
        if status == 200:
            res = json.loads(body)["results"]
            info["ok"] = len(res) == 1 and len(res[0]["step_scores"]) == n_steps[i % len(raws)]
        return status, dt, info

    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    deadline = time.perf_counter() + 60
    while connected < n and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    t_send = time.perf_counter()
    gate.set()
    res = await asyncio.gather(*tasks)
    return {"results": res, "last_answer": time.perf_counter(), "wall_s": time.perf_counter() - t_send}


async def _get_json(port: int, path: str) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        return head, await reader.readexactly(length)
    finally:
        writer.close()


async def _drain(port: int, last_answer: float) -> float:
    while True:
        _, body = await _get_json(port, "/health")
        if json.loads(body)["queue_depth"] == 0:
            return time.perf_counter() - last_answer
        await asyncio.sleep(0.01)


async def _metrics(port: int) -> dict:
    _, body = await _get_json(port, "/metrics")
    keep = (
        "prmkit_rejected_total",
        "prmkit_dropped_total",
        "prmkit_queue_depth",
        "prmkit_solutions_scored_total",
    )
    return {ln.split()[0]: float(ln.split()[1]) for ln in body.decode().splitlines() if ln.startswith(keep)}


def _server(prm: Path, timeout: float) -> ServerProcess:
    port = free_port()
    argv = prmkit_serve_argv(prm, port, "--request-timeout", str(timeout), "--max-queue", "4096",
                             "--max-wait-ms", "0")  # fmt: skip
    return ServerProcess(argv, port, timeout=900)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="embedded", help="PRM size (see above)")
    ap.add_argument("--overload", type=float, default=10.0, help="burst size / what fits in the timeout")
    ap.add_argument("--max-burst", type=int, default=1000, help="most requests in the burst (client CPU)")
    ap.add_argument(
        "--timeout", type=float, default=None, help="burst server --request-timeout (default: derived)"
    )
    ap.add_argument("--min-timeout", type=float, default=0.5, help="smallest derived timeout (s)")
    ap.add_argument("--capacity-clients", type=int, default=32, help="closed-loop clients for the capacity")
    ap.add_argument(
        "--capacity-seconds", type=float, default=5.0, help="duration of the capacity measurement"
    )
    ap.add_argument("--sequential", type=int, default=30, help="requests for the unloaded / follow-up p50")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve_overload.json"))
    args = ap.parse_args()

    sols = arith_solutions(64)
    n_steps = [len(s["steps"]) for s in sols]
    hidden, layers, heads, vocab = MODELS[args.model]
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        prm = make_tiny(Path(d) / "prm", sols, hidden, layers, heads, vocab)
        with _server(prm, 60.0) as srv:  # 1. capacity, nothing refused
            raws = [encode_request(srv.port, s) for s in sols]
            asyncio.run(_sequential(srv.port, raws, 10))  # warm-up
            capacity = asyncio.run(_closed_loop(srv.port, raws, args.capacity_clients, args.capacity_seconds))
        rps = capacity["requests_per_s"]
        # 2. the burst server's timeout: the burst is `overload` x what fits in it
        timeout = args.timeout or max(args.min_timeout, args.max_burst / (args.overload * rps))
        fits = rps * timeout
        burst_n = int(min(args.max_burst, max(20, round(args.overload * fits))))
        with _server(prm, timeout) as srv:  # 3.-7.
            raws = [encode_request(srv.port, s) for s in sols]
            asyncio.run(_sequential(srv.port, raws, 10))  # warm-up: the cost model sees real batches
            asyncio.run(_closed_loop(srv.port, raws, 8, 1.0))
            unloaded = asyncio.run(_sequential(srv.port, raws, args.sequential))
            rss_before = srv.rss_kb()
            b = asyncio.run(_burst(srv.port, raws, n_steps, burst_n))
            drain = asyncio.run(_drain(srv.port, b["last_answer"]))
            t_first = time.perf_counter()
            first_lat, first_codes = asyncio.run(_follow_up(srv.port, raws, 1))
            first_served = time.perf_counter() - t_first
            follow, follow_codes = asyncio.run(_follow_up(srv.port, raws, args.sequential))
            rss_after = srv.rss_kb()
            metrics = asyncio.run(_metrics(srv.port))
    codes = Counter(s for s, _, _ in b["results"])
    ok_lat = [dt for s, dt, _ in b["results"] if s == 200]
    rej_lat = [dt for s, dt, _ in b["results"] if s == 429]
    unloaded_p50, follow_p50 = statistics.median(unloaded), statistics.median(follow)
    overload = burst_n / fits
    result = {
        "model": f"qwen2 token classifier hidden={hidden} layers={layers} heads={heads} vocab={vocab} "
        f"({args.model}), arithmetic-world solutions, one per request",
        "server": f"prmkit serve --request-timeout {timeout:.3g} --max-queue 4096 --max-wait-ms 0 (batching on)",
        "capacity_requests_per_s": rps,
        "capacity_measurement": {
            "clients": args.capacity_clients,
            "seconds": args.capacity_seconds,
            **capacity,
        },
        "timeout_s": timeout,
        "fits_in_timeout": fits,
        "burst": burst_n,
        "overload_factor": overload,
        "burst_send_to_last_answer_s": b["wall_s"],
        "codes": {str(k): v for k, v in sorted(codes.items())},
        "all_200_correct": all(i.get("ok") for s, _, i in b["results"] if s == 200),
        "burst_200_p50_ms": _pct(ok_lat, 0.5),
        "burst_200_p99_ms": _pct(ok_lat, 0.99),
        "burst_429_p50_ms": _pct(rej_lat, 0.5),
        "burst_429_p99_ms": _pct(rej_lat, 0.99),
        "queue_drain_s_after_last_answer": drain,
        "unloaded_p50_ms": 1000 * unloaded_p50,
        "follow_up_first_ms": 1000 * first_lat[0],
        "follow_up_first_served_after_ms": 1000 * first_served,
        "follow_up_codes": {str(k): v for k, v in sorted((first_codes + follow_codes).items())},
        "follow_up_p50_ms": 1000 * follow_p50,
        "rss_kb_before": rss_before,
        "rss_kb_after": rss_after,
        "server_metrics": metrics,
        "target_met": {
            "overload_at_least_10x": overload >= 10 - 1e-9,
            "only_200_429": set(codes) <= {200, 429},
            "queue_empty_within_1s": drain <= 1.0,
            "follow_up_all_200": set(first_codes + follow_codes) == {200},
            "follow_up_p50_within_1.5x_unloaded": follow_p50 <= 1.5 * unloaded_p50,
        },
        "benchmark_wall_s": time.perf_counter() - t_start,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg": list(os.getloadavg()),
        },
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "server_metrics"}, indent=1))


if __name__ == "__main__":
    main()
