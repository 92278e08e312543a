"""OpenAI-compatible policy: retries/backoff/timeouts/n-fallback against a fake server, and a real
llama.cpp server (SmolLM2) on loopback."""

from __future__ import annotations

import threading
import time

import pytest

from fake_openai_server import FakeServer, Reply, completion
from llama_server import llama_server_fixture  # noqa: F401 - provides the `llama_server` fixture
from prmkit.errors import PrmkitError
from prmkit.policies import POLICIES, load_policy
from prmkit.policies.openai import OpenAIClient, OpenAIPolicy
from prmkit.records import Problem

P = [Problem(id="p1", question="What is 2+3?"), Problem(id="p2", question="What is 4*5?")]


def test_registered():
    assert "openai" in POLICIES


def test_retries_on_429_and_5xx_with_exponential_backoff():
    # the openai SDK retries: 0.5 s doubling (x 0.75-1 jitter) -> the two retries wait 1.125-1.5 s in all
    calls = {"n": 0}

    def handler(path, body):
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply({"error": "slow down"}, status=429)
        if calls["n"] == 2:
            return Reply({"error": "boom"}, status=503)
        return Reply(completion(["2+3=5\n\nThe answer is 5"]))

    with FakeServer(handler) as srv:
        client = OpenAIClient(srv.base_url)
        t0 = time.perf_counter()
        body = client.post("completions", {"prompt": "x"})
        waited = time.perf_counter() - t0
    assert body["choices"][0]["text"].startswith("2+3=5")
    assert calls["n"] == 3
    assert client.usage["retries"] == 2 and client.usage["requests"] == 1
    # 0.5 * [0.75, 1] + 1.0 * [0.75, 1] of sleep, plus three requests on a loaded machine
    assert 0.375 + 0.75 <= waited < 10.0


def test_retry_after_header_is_honoured():
    calls = {"n": 0}
    stamps: list[float] = []

    def handler(path, body):
        calls["n"] += 1
        stamps.append(time.perf_counter())
        if calls["n"] == 1:
            return Reply({}, status=429, headers={"Retry-After-Ms": "50"})
        if calls["n"] == 2:
            return Reply({}, status=429, headers={"Retry-After": "1.2"})
        return Reply(completion(["ok"]))

    with FakeServer(handler) as srv:
        OpenAIClient(srv.base_url).post("completions", {})
    # the server's delays, not the default backoff (0.375-0.5 s, then 0.75-1 s)
    assert 0.05 <= stamps[1] - stamps[0] < 0.3
    assert 1.2 <= stamps[2] - stamps[1] < 2.0


def test_gives_up_after_max_retries_and_does_not_retry_400():
    with FakeServer(
        lambda p, b: Reply({"error": "down"}, status=500, headers={"Retry-After-Ms": "1"})
    ) as srv:
        client = OpenAIClient(srv.base_url, max_retries=2)
        with pytest.raises(PrmkitError, match="after 3 attempts: HTTP 500"):
            client.post("completions", {})
        assert len(srv.requests) == 3 and client.usage["retries"] == 2
    with FakeServer(lambda p, b: Reply({"error": "bad request"}, status=400)) as srv:
        client = OpenAIClient(srv.base_url, max_retries=3)
        with pytest.raises(PrmkitError, match="completions: HTTP 400: .*bad request"):
            client.post("completions", {})
        assert len(srv.requests) == 1


def test_too_long_retry_after_fails_at_once():
    with FakeServer(
        lambda p, b: Reply({"error": "later"}, status=429, headers={"Retry-After": "100000"})
    ) as srv:
        client = OpenAIClient(srv.base_url, max_retries=3)
        with pytest.raises(PrmkitError) as err:
            client.post("completions", {})
        assert len(srv.requests) == 1 and client.usage["retries"] == 0
    assert "HTTP 429" in str(err.value) and "attempts" not in str(err.value)


def test_timeout_is_retried_then_succeeds():
    calls = {"n": 0}

    def handler(path, body):
        calls["n"] += 1
        return Reply(completion(["late"]), delay=1.0) if calls["n"] == 1 else Reply(completion(["fast"]))

    with FakeServer(handler) as srv:
        client = OpenAIClient(srv.base_url, timeout=0.2)
        body = client.post("completions", {})
    assert body["choices"][0]["text"] == "fast"
    assert client.usage["retries"] == 1


def test_connection_refused_is_retried_then_reported():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = OpenAIClient(f"http://127.0.0.1:{port}", max_retries=1)
    with pytest.raises(PrmkitError, match="after 2 attempts: ConnectError"):
        client.post("completions", {})
    assert client.usage["retries"] == 1


def test_api_key_is_sent_as_bearer_token(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeServer(lambda p, b: Reply(completion(["x"]))) as srv:
        OpenAIClient(srv.base_url, api_key="sk-test").post("completions", {})
        OpenAIClient(srv.base_url).post("completions", {})  # no key: a placeholder the server ignores
    assert srv.headers[0]["authorization"] == "Bearer sk-test"
    assert srv.headers[1]["authorization"] == "Bearer EMPTY"


def test_concurrency_limit_is_respected():
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def handler(path, body):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return Reply(completion(["x"]))

    with FakeServer(handler) as srv:
        client = OpenAIClient(srv.base_url, max_concurrency=3)
        out = client.map(
            lambda i: client.post("completions", {"i": i})["choices"][0]["text"], list(range(12))
        )
    assert out == ["x"] * 12
    assert 2 <= state["peak"] <= 3


def test_policy_payload_stop_seed_n_and_usage():
    def handler(path, body):
        if path.endswith("/models"):
            return Reply({"data": [{"id": "served-model"}]})
        k = body["n"]
        return Reply(completion([f"step {i}\n\n" for i in range(k)], tokens=6 * k))

    with FakeServer(handler) as srv:
        pol = OpenAIPolicy(srv.base_url, temperature=0.5, max_tokens=40, max_concurrency=2)
        gens = pol.continue_from(P, [[], ["2+3=5"]], n=3, max_steps=1, seed=7)
        posts = [b for p, b in srv.requests if p.endswith("/completions")]
    assert [len(g) for g in gens] == [3, 3]
    assert gens[0][1].steps == ["step 1"] and not gens[0][1].finished
    assert gens[0][0].num_tokens == 6 and gens[0][0].meta["stop_reason"] == "stop"
    assert len(posts) == 2
    b = posts[0]
    assert b["model"] == "served-model" and b["stop"] == ["\n\n"] and b["n"] == 3
    assert b["max_tokens"] == 40 and b["temperature"] == 0.5 and isinstance(b["seed"], int)
    with_prefix = [b for b in posts if "4*5" in b["prompt"]][0]
    assert with_prefix["prompt"].endswith("<|im_start|>assistant\n2+3=5\n\n")
    assert pol.client.usage["completion_tokens"] == 36


def test_policy_falls_back_to_separate_requests_when_n_ignored():
    def handler(path, body):  # llama.cpp-like: always one choice
        return Reply(completion([f"seed {body['seed']}"], finish="length", tokens=4))

    with FakeServer(handler) as srv:
        pol = OpenAIPolicy(srv.base_url, model="m")
        gens = pol.continue_from(P[:1], [[]], n=3, seed=1)
        gens_again = pol.continue_from(P[:1], [[]], n=3, seed=1)
        assert len(srv.requests) == 6
    texts = [g.steps[0] for g in gens[0]]
    assert len(set(texts)) == 3  # three different seeds were sent
    assert texts == [g.steps[0] for g in gens_again[0]]
    assert all(g.meta["stop_reason"] == "length" and not g.finished for g in gens[0])


def test_policy_chat_api_full_solution_and_eos():
    def handler(path, body):
        assert path.endswith("/chat/completions")
        assert "stop" not in body  # full solutions: no stop strings
        return Reply(completion(["a = 1\n\nb = 2\n\nThe answer is 3"], chat=True, stop_reason=None))

    with FakeServer(handler) as srv:
        pol = OpenAIPolicy(srv.base_url, model="m", api="chat")
        g = pol.continue_from(P[:1], [["given"]], n=1)[0][0]
        body = srv.requests[0][1]
    assert g.steps == ["a = 1", "b = 2", "The answer is 3"] and g.finished
    assert body["messages"][-1] == {"role": "assistant", "content": "given\n\n"}
    assert body["continue_final_message"] is True


def test_load_policy_validates_options(monkeypatch):
    with pytest.raises(PrmkitError, match="api"):
        load_policy("openai", base_url="http://x", api="bogus")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(PrmkitError, match="base_url"):
        load_policy("openai")


@pytest.mark.server
def test_real_llama_cpp_server(llama_server):
    pol = OpenAIPolicy(llama_server.base_url, temperature=0.7, max_tokens=24, max_concurrency=2)
    gens = pol.continue_from(P, [[], ["First, 4*5 means adding 4 five times."]], n=2, max_steps=1, seed=3)
    assert [len(g) for g in gens] == [2, 2]
    for row in gens:
        for g in row:
            assert g.num_tokens > 0 and len(g.steps) <= 1
            assert all("\n\n" not in s for s in g.steps)
    # same seed -> same output (llama.cpp honours `seed`)
    again = pol.continue_from(P[:1], [[]], n=2, max_steps=1, seed=3)
    assert [g.steps for g in again[0]] == [g.steps for g in gens[0]]
    assert pol.client.usage["completion_tokens"] >= sum(g.num_tokens for row in gens for g in row)
    # chat API against the same server
    chat = OpenAIPolicy(llama_server.base_url, api="chat", temperature=0.0, max_tokens=16)
    g = chat.sample(P[:1], n=1)[0][0]
    assert g.num_tokens > 0 and g.steps


def test_step_budget_is_per_step_times_steps_asked_for():
    with FakeServer(lambda path, body: Reply(completion(["1+1=2\n\nThe answer is 2"]))) as srv:
        pol = OpenAIPolicy(srv.base_url, model="m", max_tokens=256, step_max_tokens=32, send_n=False)
        pol.continue_from(P[:1], [[]], n=1, max_steps=1, seed=0)
        pol.continue_from(P[:1], [[]], n=1, max_steps=3, seed=0)
        pol.continue_from(P[:1], [[]], n=1, max_steps=20, seed=0)
        pol.continue_from(P[:1], [[]], n=1, seed=0)
        sent = [b["max_tokens"] for p, b in srv.requests if p.endswith("/completions")]
    assert sent == [32, 96, 256, 256]
