"""The reward server, tested as a real process on loopback."""

from __future__ import annotations

import concurrent.futures as cf
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from serve_util import (
    ServerProcess,
    free_port,
    make_tiny_prm,
    prmkit_serve_argv,
    slow_server_argv,
)

SOLUTIONS = [
    {"problem": "Tom has 3 apples and buys 4 more. How many?", "steps": ["3 + 4 = 7.", "The answer is 7."]},
    {"problem": "Ann reads 12 pages a day for 5 days.", "steps": ["12 x 5 = 60 pages.", "The answer is 60."]},
    {"problem": "1+1?", "steps": ["1 + 1 = 3.", "So 3 + 0 = 3.", "The answer is 3."]},
    {"problem": "unicode ∑ problem", "steps": ["", "  trailing  ", "\n\nThe answer is 2."]},
]


@pytest.fixture(scope="module")
def prm_dir(tmp_path_factory) -> Path:
    return make_tiny_prm(tmp_path_factory.mktemp("prm"))


@pytest.fixture(scope="module")
def library_scores(prm_dir):
    from prmkit.scorers import load_scorer

    scorer = load_scorer(None, str(prm_dir))
    return scorer.score_batch([s["problem"] for s in SOLUTIONS], [s["steps"] for s in SOLUTIONS])


@pytest.fixture(scope="module")
def server(prm_dir):
    port = free_port()
    with ServerProcess(prmkit_serve_argv(prm_dir, port, "--max-wait-ms", "10"), port) as srv:
        yield srv


def _close(a, b, tol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x is None and y is None) or abs(x - y) <= tol, (a, b)


def test_scores_equal_library_scoring(server, library_scores):
    r = httpx.post(server.url + "/v1/score", json={"solutions": SOLUTIONS, "aggregation": ["min", "last"]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(SOLUTIONS)
    for res, lib in zip(results, library_scores, strict=True):
        _close(res["step_scores"], lib)
        assert res["aggregation"] == "min"
        assert abs(res["score"] - min(lib)) < 1e-6
        assert abs(res["scores"]["last"] - lib[-1]) < 1e-6
    # one solution as a bare object
    one = httpx.post(server.url + "/v1/score", json=SOLUTIONS[0]).json()["results"][0]
    _close(one["step_scores"], library_scores[0])


def test_32_concurrent_clients_batch_and_answer_correctly(server, library_scores):
    def client(i: int) -> list[tuple[int, list]]:
        out = []
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for j in range(4):
                k = (i + j) % len(SOLUTIONS)
                r = c.post("/v1/score", json={"solutions": [SOLUTIONS[k]]})
                assert r.status_code == 200, r.text
                out.append((k, r.json()["results"][0]["step_scores"]))
        return out

    with cf.ThreadPoolExecutor(32) as ex:
        answers = [a for fut in [ex.submit(client, i) for i in range(32)] for a in fut.result()]
    assert len(answers) == 128
    for k, scores in answers:
        _close(scores, library_scores[k])
    metrics = httpx.get(server.url + "/metrics").text
    assert "prmkit_request_latency_seconds_bucket" in metrics
    assert "prmkit_queue_depth" in metrics
    # dynamic batching gathered several requests into one forward at least once
    count = float(
        next(ln.split()[-1] for ln in metrics.splitlines() if ln.startswith("prmkit_batch_size_count"))
    )
    total = float(
        next(ln.split()[-1] for ln in metrics.splitlines() if ln.startswith("prmkit_batch_size_sum"))
    )
    assert total / count > 1.0


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        ({"solutions": [{"problem": "p", "steps": []}]}, 422, "steps"),
        ({"solutions": [{"problem": "p"}]}, 422, "steps"),
        ({"solutions": [{"problem": 3, "steps": ["a"]}]}, 422, "problem"),
        ({"solutions": []}, 422, "solutions"),
        ({}, 422, "missing"),
        ({"solutions": [{"problem": "p", "steps": ["a"]}], "aggregation": "median"}, 422, "unknown rule"),
        ({"solutions": [{"problem": "p", "steps": ["a"]}] * 65}, 413, "limit"),
        ({"solutions": [{"problem": "p", "steps": ["a"] * 129}]}, 413, "limit"),
        ({"solutions": [{"problem": "p" * 100_001, "steps": ["a"]}]}, 413, "characters"),
    ],
)
def test_malformed_and_oversized_requests(server, payload, status, needle):
    r = httpx.post(server.url + "/v1/score", json=payload)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]


def test_invalid_json_body_is_422(server):
    r = httpx.post(
        server.url + "/v1/score", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert "error" in r.json()


def test_openapi_still_lists_the_scoring_routes(server):
    # the scoring endpoints are answered by the lean ASGI front; FastAPI still documents them
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "/v1/score" in paths and "/get_reward" in paths
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_get_reward_openrlhf_protocol(server, library_scores):
    s = SOLUTIONS[0]
    query = s["problem"] + "<|im_start|>assistant\n" + "\n\n".join(s["steps"])
    r = httpx.post(server.url + "/get_reward", json={"query": [query]})
    assert r.status_code == 200, r.text
    body = r.json()
    _close(body["step_rewards"][0], library_scores[0])
    assert abs(body["rewards"][0] - min(library_scores[0])) < 1e-6
    # with prompts: the response is what follows the prompt
    prompt = s["problem"] + "\n"
    r2 = httpx.post(
        server.url + "/get_reward", json={"query": [prompt + "\n\n".join(s["steps"])], "prompts": [prompt]}
    )
    assert r2.status_code == 200
    assert len(r2.json()["step_rewards"][0]) == 2
    bad = httpx.post(server.url + "/get_reward", json={"query": ["no delimiter here"]})
    assert bad.status_code == 422 and "delimiter" in bad.json()["error"]


def test_python_client_and_reward_fn(server, library_scores):
    from prmkit.serve import Client

    with Client(server.url) as c:
        assert c.health()["status"] == "ok"
        res = c.score(SOLUTIONS[:2], aggregation="prod")
        assert res[0]["aggregation"] == "prod"
        fn = c.reward_fn()
        rewards = fn([SOLUTIONS[1]["problem"]], ["\n\n".join(SOLUTIONS[1]["steps"])])
        _close(rewards[0], library_scores[1])
        with pytest.raises(Exception, match="422"):
            c.score([{"problem": "p", "steps": []}])


def test_no_memory_growth_over_a_soak(server):
    payload = {"solutions": SOLUTIONS}
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for _ in range(100):  # warm up allocator and caches
            assert c.post("/v1/score", json=payload).status_code == 200
        before = server.rss_kb()
        t_end = time.time() + 8
        n = 0
        while time.time() < t_end and n < 1500:
            assert c.post("/v1/score", json=payload).status_code == 200
            n += 1
        after = server.rss_kb()
    assert n >= 200
    assert after - before < 30_000, f"RSS grew {after - before} kB over {n} requests"


def test_overload_answers_429_and_every_other_request_correctly(prm_dir, library_scores):
    port = free_port()
    with ServerProcess(slow_server_argv(prm_dir, port, 0.15, "2"), port) as srv:

        def one(i: int) -> httpx.Response:
            return httpx.post(srv.url + "/v1/score", json={"solutions": [SOLUTIONS[i % 4]]}, timeout=60)

        with cf.ThreadPoolExecutor(16) as ex:
            responses = list(ex.map(one, range(16)))
        codes = [r.status_code for r in responses]
        assert 429 in codes and 200 in codes
        assert set(codes) <= {200, 429}
        for i, r in enumerate(responses):
            if r.status_code == 429:
                assert r.headers["Retry-After"] == "1"
            else:
                _close(r.json()["results"][0]["step_scores"], library_scores[i % 4])
        assert "prmkit_rejected_total" in httpx.get(srv.url + "/metrics").text


def test_request_timeout_is_504(prm_dir):
    port = free_port()
    with ServerProcess(slow_server_argv(prm_dir, port, 1.0, "8", "0.2"), port) as srv:
        r = httpx.post(srv.url + "/v1/score", json={"solutions": [SOLUTIONS[0]]}, timeout=30)
        assert r.status_code == 504
        assert "timed out" in r.json()["error"]


def test_graceful_shutdown_finishes_requests_in_flight(prm_dir, library_scores):
    port = free_port()
    srv = ServerProcess(slow_server_argv(prm_dir, port, 1.0), port)
    result: dict = {}

    def request() -> None:
        result["r"] = httpx.post(srv.url + "/v1/score", json={"solutions": [SOLUTIONS[1]]}, timeout=30)

    t = threading.Thread(target=request)
    t.start()
    time.sleep(0.3)  # the request is now being scored
    srv.proc.send_signal(signal.SIGTERM)
    t.join(timeout=30)
    srv.proc.wait(timeout=30)
    assert result["r"].status_code == 200
    _close(result["r"].json()["results"][0]["step_scores"], library_scores[1])
    # uvicorn re-raises SIGTERM after its graceful shutdown completes
    assert srv.proc.returncode in (0, -signal.SIGTERM)
