"""Issue #20, defect 4 and item 7: the server refuses overload early, forgets clients that left,
and can require an API key.

Reproduces, in-process with scorers that sleep or block (no model, no subprocess): a burst accepted
and then timed out (504) instead of refused (429 + Retry-After) by the expected wait; a queued
request whose client disconnected still being scored; the queue still holding requests after every
client had its answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from prmkit.serve.batcher import DynamicBatcher, Overloaded


class SleepScorer:
    """Each ``score_batch`` call sleeps ``delay`` seconds (a fixed-cost model forward)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.seen: list[str] = []

    def score_batch(self, problems, steps):
        time.sleep(self.delay)
        self.seen += problems
        return [[0.5] * len(s) for s in steps]

    def close(self) -> None:
        pass


def test_burst_gets_429_from_the_cost_model_and_no_admitted_request_times_out():
    delay, timeout = 0.1, 1.0

    async def main():
        scorer = SleepScorer(delay)
        b = DynamicBatcher(scorer, max_wait_ms=0, max_batch_solutions=1, max_queue=1000)
        await b.start()
        await b.submit(["warm"], [["s"]])  # one batch measures the cost model
        assert b.sec_per_solution == pytest.approx(delay, rel=0.5)

        async def one(i: int):
            t0 = time.perf_counter()
            try:
                await asyncio.wait_for(b.submit_with_meta([f"p{i}"], [["s"]], max_wait_s=timeout), timeout)
                return "ok", time.perf_counter() - t0
            except Overloaded as e:
                return "429", e.retry_after
            except TimeoutError:
                return "504", time.perf_counter() - t0

        res = await asyncio.gather(*(one(i) for i in range(60)))  # 6 s of work for a 1 s timeout
        depth_after = b.depth
        await b.stop()
        return res, depth_after

    res, depth_after = asyncio.run(main())
    kinds = [k for k, _ in res]
    assert "504" not in kinds, res
    # at 0.1 s each, about ADMISSION_MARGIN * 1 s / 0.1 s = 8 fit in the timeout; the rest are refused
    assert 3 <= kinds.count("ok") <= 12 and kinds.count("429") >= 45
    assert all(v > 0 for k, v in res if k == "429")  # Retry-After: the excess wait
    assert depth_after == 0


class BlockingScorer:
    """The first call blocks until released (a long forward), later calls return at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.seen: list[str] = []

    def score_batch(self, problems, steps):
        self.seen += problems
        self.entered.set()
        self.release.wait(30)
        return [[1.0] * len(s) for s in steps]

    def close(self) -> None:
        pass


def test_timed_out_queued_requests_leave_the_queue_unscored():
    async def main():
        scorer = BlockingScorer()
        b = DynamicBatcher(scorer, max_wait_ms=0, max_batch_solutions=1)
        await b.start()
        first = asyncio.ensure_future(b.submit(["first"], [["s"]]))
        await asyncio.to_thread(scorer.entered.wait, 10)
        waiting = [
            asyncio.ensure_future(asyncio.wait_for(b.submit([f"q{i}"], [["s"]]), 0.2)) for i in range(5)
        ]
        await asyncio.sleep(0.05)
        depth_before = b.depth
        await asyncio.gather(*waiting, return_exceptions=True)
        depth_after = b.depth  # right after the last answer (504s), while the scorer is still busy
        scorer.release.set()
        await first
        follow = await b.submit(["follow"], [["s"]])
        await b.stop()
        return scorer, depth_before, depth_after, follow, b.metrics.dropped

    scorer, before, after, follow, dropped = asyncio.run(main())
    assert before == 5 and after == 0 and dropped == 5
    assert scorer.seen == ["first", "follow"]  # the timed-out ones were never scored
    assert follow == [[1.0]]


def _asgi_request(app, body: bytes, headers: dict[str, str], disconnect_after: float | None):
    """One POST /v1/score through the raw ASGI app; returns (status, body, disconnected)."""
    out: dict = {"status": None, "body": b""}

    async def run():
        sent = {"body": False}

        async def receive():
            if not sent["body"]:
                sent["body"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            if disconnect_after is None:
                await asyncio.sleep(3600)
            await asyncio.sleep(disconnect_after)
            return {"type": "http.disconnect"}

        async def send(msg):
            if msg["type"] == "http.response.start":
                out["status"] = msg["status"]
            elif msg["type"] == "http.response.body":
                out["body"] += msg.get("body", b"")

        scope = {"type": "http", "method": "POST", "path": "/v1/score", "headers":
                 [(k.lower().encode(), v.encode()) for k, v in headers.items()], "query_string": b""}  # fmt: skip
        await app(scope, receive, send)

    return run, out


def test_client_that_disconnects_is_dropped_from_the_queue():
    from prmkit.serve.app import create_app
    from prmkit.serve.config import ServeConfig

    scorer = BlockingScorer()
    app = create_app(scorer, ServeConfig(max_batch_solutions=1, max_wait_ms=0))
    batcher = app.state.batcher
    js = {"content-type": "application/json"}

    def body(p: str) -> bytes:
        return json.dumps({"problem": p, "steps": ["s"]}).encode()

    async def main():
        await batcher.start()
        run_a, out_a = _asgi_request(app, body("A"), js, None)
        task_a = asyncio.ensure_future(run_a())
        await asyncio.to_thread(scorer.entered.wait, 10)
        run_b, out_b = _asgi_request(app, body("B"), js, 0.1)  # queued behind A, then its client leaves
        await run_b()
        depth = batcher.depth
        scorer.release.set()
        await task_a
        await batcher.stop()
        return out_a, out_b, depth

    out_a, out_b, depth = asyncio.run(main())
    assert out_a["status"] == 200 and json.loads(out_a["body"])["results"][0]["step_scores"] == [1.0]
    assert out_b["status"] is None  # nobody to answer
    assert depth == 0 and scorer.seen == ["A"]
    assert batcher.metrics.dropped == 1


def _client(monkeypatch, env_key=None, **cfg):
    from fastapi.testclient import TestClient

    from prmkit.serve.app import create_app
    from prmkit.serve.config import ServeConfig

    if env_key is None:
        monkeypatch.delenv("PRMKIT_API_KEY", raising=False)
    else:
        monkeypatch.setenv("PRMKIT_API_KEY", env_key)
    return TestClient(create_app(SleepScorer(0.0), ServeConfig(**cfg)))


PAYLOAD = {"problem": "p", "steps": ["1 + 1 = 2"]}


@pytest.mark.parametrize("source", ["flag", "env"])
def test_api_key_bearer_401_without_it(monkeypatch, source):
    key = "s3cret-key"
    kw = {"api_key": key} if source == "flag" else {}
    with _client(monkeypatch, env_key=key if source == "env" else None, **kw) as c:
        assert c.post("/v1/score", json=PAYLOAD).status_code == 401
        r = c.post("/v1/score", json=PAYLOAD, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert (
            c.post("/v1/score", json=PAYLOAD, headers={"Authorization": key}).status_code == 401
        )  # no scheme
        assert c.get("/metrics").status_code == 401
        assert c.get("/health").status_code == 200  # liveness probes need no key
        ok = c.post("/v1/score", json=PAYLOAD, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["results"][0]["step_scores"] == [0.5]


def test_no_key_configured_means_open(monkeypatch):
    with _client(monkeypatch) as c:
        assert c.post("/v1/score", json=PAYLOAD).status_code == 200


def test_json_endpoints_require_json_content_type(monkeypatch):
    with _client(monkeypatch) as c:
        data = json.dumps(PAYLOAD)
        r = c.post("/v1/score", content=data, headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and "application/json" in r.json()["error"]
        assert c.post("/get_reward", content=data).status_code == 415  # no Content-Type at all
        ok = c.post("/v1/score", content=data, headers={"Content-Type": "application/json; charset=utf-8"})
        assert ok.status_code == 200


def test_client_sends_the_api_key(monkeypatch):
    """``Client(api_key=...)`` (or ``PRMKIT_API_KEY``) talks to a keyed server over HTTP; without
    the key it gets 401. The server runs in a thread of this process (uvicorn on loopback)."""
    import uvicorn

    from prmkit.errors import PrmkitError
    from prmkit.serve.app import create_app
    from prmkit.serve.client import Client
    from prmkit.serve.config import ServeConfig
    from serve_util import free_port

    monkeypatch.delenv("PRMKIT_API_KEY", raising=False)
    key, port = "k3y", free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(SleepScorer(0.0), ServeConfig(api_key=key)), host="127.0.0.1",
                                           port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        with Client(url, api_key=key) as c:
            assert c.step_scores(["p"], [["1 + 1 = 2"]]) == [[0.5]]
        with Client(url, retries=0) as c, pytest.raises(PrmkitError, match="401"):
            c.step_scores(["p"], [["1 + 1 = 2"]])
        monkeypatch.setenv("PRMKIT_API_KEY", key)
        with Client(url) as c:
            assert c.get_reward(["q<|im_start|>assistant\n1 + 1 = 2"])["rewards"] == [0.5]
    finally:
        server.should_exit = True
        thread.join(30)


class PerSolutionScorer:
    """Sleeps ``delay`` seconds per solution (a forward whose cost grows with the batch)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.batches: list[int] = []

    def score_batch(self, problems, steps):
        self.batches.append(len(problems))
        time.sleep(self.delay * len(problems))
        return [[0.5] * len(s) for s in steps]

    def close(self) -> None:
        pass


def test_idle_server_admits_and_corrects_an_inflated_cost_model():
    """After a burst the cost model may be far too high (the issue: the next tiny request took 38 s);
    an idle batcher admits anyway, and the measured batch brings the model back down."""

    async def main():
        b = DynamicBatcher(PerSolutionScorer(0.01), max_wait_ms=0)
        await b.start()
        await b.submit(["warm"], [["s"]])
        b.sec_per_solution, b.sec_per_char = 100.0, 100.0  # as if measured while the CPU was starved
        t0 = time.perf_counter()
        out = await b.submit_with_meta(["p"], [["s"]], max_wait_s=1.0)
        dt = time.perf_counter() - t0
        sps = b.sec_per_solution
        await b.stop()
        return out, dt, sps

    out, dt, sps = asyncio.run(main())
    assert out[0] == [[0.5]] and dt < 1.0
    assert sps < 100.0 * 0.8  # moved towards the measured 0.01 s


def test_a_result_ready_at_the_deadline_is_answered_not_timed_out():
    """An event loop busy with a burst can notice a request's deadline after its scores arrived:
    the scores win (no 504 for a request that was scored in time)."""

    async def main():
        b = DynamicBatcher(SleepScorer(0.05), max_wait_ms=0)
        await b.start()
        task = asyncio.ensure_future(b.submit_with_meta(["p"], [["s"]], max_wait_s=0.2))
        await asyncio.sleep(0.01)  # queued, and the batch started in the worker thread
        time.sleep(0.4)  # the loop is blocked past the deadline; the worker finished at 0.05 s
        out = await task
        await b.stop()
        return out

    assert asyncio.run(main())[0] == [[0.5]]


def test_batches_stay_within_max_batch_seconds():
    async def main():
        scorer = PerSolutionScorer(0.01)
        b = DynamicBatcher(scorer, max_wait_ms=0, max_batch_solutions=64, max_batch_seconds=0.05)
        await b.start()
        await b.submit(["warm"], [["s"]])  # measures the cost model: 0.01 s a solution
        await asyncio.gather(*(b.submit([f"p{i}"], [["s"]]) for i in range(30)))
        await b.stop()
        return scorer.batches

    batches = asyncio.run(main())
    assert sum(batches) == 31 and max(batches[1:]) <= 6  # 0.05 s / 0.01 s, with timing noise
