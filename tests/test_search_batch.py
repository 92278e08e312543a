"""Search batched across problems gives the per-problem results, with fewer backend calls."""

from __future__ import annotations

import json

import pytest

import prmkit.worlds  # noqa: F401 - registers the 'arith' policy
from prmkit.errors import PrmkitError
from prmkit.policies import load_policy
from prmkit.policies.base import Policy
from prmkit.records import Problem
from prmkit.scorers import load_scorer
from prmkit.search import SEARCHES, SearchConfig, search, search_one
from prmkit.search.driver import search_iter
from prmkit.worlds.arith import generate_problems

#: small settings per method (the same for both runs)
METHOD_OPTS = {
    "best-of-n": {"n": 4},
    "beam": {"n": 4, "width": 2, "lookahead": 1},
    "dvts": {"n": 4, "width": 2},
    "greedy": {"n": 3},
    "mcts": {"width": 2, "mcts_iterations": 3},
    "early-rejection": {"n": 4, "width": 2, "tau": 3},
    "pats": {"pats_candidates": [4, 2, 1], "pats_max_iterations": 8},
}


class CountingPolicy(Policy):
    """Wraps a policy and counts the calls that reach it."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.continue_from_calls = 0
        self.batch_calls = 0
        self.problems_per_batch: list[int] = []

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        self.continue_from_calls += 1
        return self.inner.continue_from(problems, prefixes, n, max_steps=max_steps, seed=seed)

    def continue_batch(self, requests):
        self.batch_calls += 1
        self.problems_per_batch.append(len({r.problem.id for r in requests}))
        return super().continue_batch(requests)


def _strip_time(d: dict) -> dict:
    d = json.loads(json.dumps(d))
    d["compute"].pop("wall_time_s")
    return d


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return generate_problems(7, seed=3, max_ops=4)


def test_every_method_is_covered():
    assert sorted(METHOD_OPTS) == sorted(SEARCHES.names())


@pytest.mark.parametrize("scorer_name", ["arith-oracle", "calculator"])
@pytest.mark.parametrize("method", sorted(METHOD_OPTS))
def test_batched_equals_per_problem(problems, method, scorer_name):
    """Reference: search_one on each problem alone (the unbatched code path, one problem per call)."""
    scorer = load_scorer(scorer_name, None) if scorer_name == "calculator" else None
    if scorer is None:
        from prmkit.scorers.oracle import ArithOracleScorer

        scorer = ArithOracleScorer(problems)
    opts = dict(METHOD_OPTS[method], max_steps=8)
    ref_pol = CountingPolicy(load_policy("arith", error_rate=0.3))
    ref = [search_one(p, ref_pol, scorer, SearchConfig(method=method, **opts)) for p in problems]
    pol = CountingPolicy(load_policy("arith", error_rate=0.3))
    stats: dict[str, int] = {}
    got = list(
        search_iter(problems, pol, scorer, SearchConfig(method=method, batch_problems=3, **opts), stats=stats)
    )
    assert [_strip_time(r.to_dict()) for r in got] == [_strip_time(r.to_dict()) for r in ref]
    # the per-problem accounting is unchanged, but the policy saw fewer, larger calls
    assert ref_pol.batch_calls == 0 and pol.continue_from_calls >= pol.batch_calls == stats["policy_calls"]
    per_problem_calls = sum(r.compute.policy_calls for r in ref)
    assert stats["policy_calls"] < per_problem_calls
    assert max(pol.problems_per_batch) == 3  # three problems shared a call
    assert stats["scorer_calls"] < sum(r.compute.scorer_calls for r in ref)


def test_default_batch_size_comes_from_the_policy(problems):
    pol = CountingPolicy(load_policy("arith"))
    pol.preferred_batch_problems = 4
    scorer = load_scorer("calculator", None)
    res = search(problems, pol, scorer, SearchConfig(method="beam", n=4, width=2, max_steps=6), quiet=True)
    assert len(res) == len(problems) and max(pol.problems_per_batch) == 4
    with pytest.raises(PrmkitError, match="batch_problems"):
        SearchConfig(batch_problems=0)


class FailOn(Policy):
    """The arith policy, except that problem ``bad`` raises on its second call."""

    def __init__(self, bad: str) -> None:
        self.inner = load_policy("arith")
        self.bad = bad
        self.seen = 0

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        if any(p.id == self.bad for p in problems):
            self.seen += 1
            if self.seen == 2:
                raise RuntimeError("backend down")
        return self.inner.continue_from(problems, prefixes, n, max_steps=max_steps, seed=seed)


def test_a_failing_problem_stops_the_batch_with_its_error(problems):
    cfg = SearchConfig(method="beam", n=4, width=2, max_steps=6, batch_problems=3)
    with pytest.raises(RuntimeError, match="backend down"):
        search(problems, FailOn(problems[4].id), load_scorer("calculator", None), cfg, quiet=True)


def test_run_search_batched_writes_the_same_file_and_resumes(tmp_path, problems):
    from prmkit.records import write_problems
    from prmkit.search.run import SearchRunConfig, run_search

    src = tmp_path / "p.jsonl"
    write_problems(src, problems)
    common = dict(
        input=str(src), policy="arith", scorer="calculator", method="dvts", n=4, width=2, max_steps=6
    )
    run_search(SearchRunConfig(out=str(tmp_path / "a.jsonl"), batch_problems=1, **common), quiet=True)
    run_search(
        SearchRunConfig(out=str(tmp_path / "b.jsonl"), batch_problems=4, limit=3, **common), quiet=True
    )
    run_search(
        SearchRunConfig(out=str(tmp_path / "b.jsonl"), batch_problems=4, resume=True, **common), quiet=True
    )
    a = [_strip_time(json.loads(x)) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    b = [_strip_time(json.loads(x)) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert a == b and [x["id"] for x in a] == [p.id for p in problems]


def test_openai_policy_keeps_requests_in_flight_across_problems():
    """Best-of-4 with the openai policy: one request per problem (n in the body). Alone, a problem
    has one request in flight; batched, the requests of the 6 problems overlap up to
    max_concurrency=4, and the results are those of the per-problem loop."""
    import threading
    import time

    from fake_openai_server import FakeServer, Reply, completion

    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def handler(path, body):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        q = body["prompt"].split("?")[0][-12:]
        return Reply(completion([f"{q} The answer is {body['seed'] % 7}."] * body["n"], finish="stop"))

    probs = [Problem(f"p{i}", f"What is {i}+{i}?", str(2 * i)) for i in range(6)]
    cfg = dict(method="best-of-n", n=4, answer_rule="majority")
    with FakeServer(handler) as srv:
        pol = load_policy("openai", base_url=srv.base_url, model="m", max_concurrency=4)
        scorer = load_scorer("calculator", None)
        assert pol.preferred_batch_problems == 8
        ref = [search_one(p, pol, scorer, SearchConfig(**cfg)) for p in probs]
        alone = state["peak"]
        got = search(probs, pol, scorer, SearchConfig(**cfg), quiet=True)  # default K = 8
        batched = state["peak"]
    assert alone == 1 and batched == 4
    assert [_strip_time(r.to_dict()) for r in got] == [_strip_time(r.to_dict()) for r in ref]
