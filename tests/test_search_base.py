"""Search plumbing: determinism, budgets, never-finishing policies, results I/O, CLI."""

from __future__ import annotations

import json

import pytest

from prmkit.errors import PrmkitError
from prmkit.records import Problem, write_problems
from prmkit.search import SEARCHES, SearchConfig, SearchResult, search, search_one
from prmkit.search.base import Candidate, choose_candidate, derive_seed
from search_fakes import GoodScorer, TreePolicy

METHODS = ["best-of-n", "beam", "dvts", "greedy", "mcts", "early-rejection", "pats"]
PROBS = [Problem(id=f"p{i}", question=f"Q{i}?", reference_answer="42") for i in range(3)]


def _strip(d):
    d = json.loads(json.dumps(d))
    d["compute"].pop("wall_time_s")
    return d


def test_registry_has_every_method():
    assert sorted(METHODS) == SEARCHES.names()


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_and_independent_of_batch(method):
    cfg = SearchConfig(method=method, n=4, width=2, mcts_iterations=4, tau=1, seed=3)
    a = search(PROBS, TreePolicy(length=3), GoodScorer(), cfg, quiet=True)
    b = search(PROBS, TreePolicy(length=3), GoodScorer(), cfg, quiet=True)
    assert [_strip(r.to_dict()) for r in a] == [_strip(r.to_dict()) for r in b]
    # a problem's result does not depend on the other problems of the run
    alone = search(PROBS[2:], TreePolicy(length=3), GoodScorer(), cfg, quiet=True)
    assert _strip(alone[0].to_dict()) == _strip(a[2].to_dict())


def test_seed_changes_samples():
    cfg = SearchConfig(method="best-of-n", n=4)
    a = search_one(PROBS[0], TreePolicy(), GoodScorer(), cfg)
    b = search_one(PROBS[0], TreePolicy(), GoodScorer(), SearchConfig(method="best-of-n", n=4, seed=1))
    assert [c.steps for c in a.candidates] != [c.steps for c in b.candidates]
    assert derive_seed(0, "a") != derive_seed(1, "a")


@pytest.mark.parametrize("method", METHODS)
def test_never_finishing_policy_terminates_within_step_budget(method):
    pol = TreePolicy(finish=False)
    cfg = SearchConfig(method=method, n=4, width=2, max_steps=6, mcts_iterations=10, tau=1).validate()
    res = search_one(PROBS[0], pol, GoodScorer(), cfg)
    assert res.meta["n_finished"] == 0
    assert all(len(c.steps) <= 6 and not c.meta["finished"] for c in res.candidates)
    assert all(c.meta["stop_reason"] != "finished" for c in res.candidates)
    if method == "dvts":
        assert res.chosen is None
    else:
        assert res.chosen is not None and res.meta["chose_unfinished"]
    assert all(mx is None or mx <= 6 for _, _, mx in pol.calls)


@pytest.mark.parametrize("method", ["beam", "greedy", "early-rejection", "pats", "mcts", "dvts"])
def test_per_candidate_token_budget(method):
    cfg = SearchConfig(method=method, n=4, width=2, max_tokens=8, mcts_iterations=6, tau=1)
    res = search_one(PROBS[0], TreePolicy(length=6, tokens_per_step=4), GoodScorer(), cfg)
    assert all(c.meta["num_tokens"] <= 8 for c in res.candidates)
    assert all(c.meta["stop_reason"] == "max_tokens" for c in res.candidates if not c.meta["finished"])


def test_per_problem_token_budget_stops_search():
    free = search_one(PROBS[0], TreePolicy(length=6), GoodScorer(), SearchConfig(method="beam", n=8, width=2))
    capped = search_one(
        PROBS[0],
        TreePolicy(length=6),
        GoodScorer(),
        SearchConfig(method="beam", n=8, width=2, max_total_tokens=40),
    )
    assert capped.compute.generated_tokens < free.compute.generated_tokens
    assert capped.compute.generated_tokens < 40 + 8 * 4  # stops after the step that crossed it
    bon = search_one(
        PROBS[0],
        TreePolicy(length=6),
        GoodScorer(),
        SearchConfig(method="best-of-n", n=16, width=2, max_total_tokens=60),
    )
    assert len(bon.candidates) < 16 and bon.meta["stopped_by"] == "max_total_tokens"


def test_best_of_n_token_budget_marks_unfinished():
    res = search_one(PROBS[0], TreePolicy(length=3), GoodScorer(), SearchConfig(n=4, max_tokens=10))
    assert all(c.meta["stop_reason"] == "max_tokens" and not c.meta["finished"] for c in res.candidates)


def test_choice_prefers_finished_and_falls_back():
    fin = Candidate(["a", "The answer is 1"], True, step_scores=[0.1, 0.1])
    unf = Candidate(["b"], False, step_scores=[0.99], stop_reason="max_steps")
    assert choose_candidate([unf, fin], "min", "best_of_n") == (1, False)
    assert choose_candidate([unf], "min", "majority") == (0, True)
    assert choose_candidate([], "min", "best_of_n") == (None, False)


def test_config_validation_names_field():
    with pytest.raises(PrmkitError, match="method"):
        SearchConfig(method="nope").validate()
    with pytest.raises(PrmkitError, match="'n'"):
        SearchConfig(n=0).validate()
    with pytest.raises(PrmkitError, match="agg"):
        SearchConfig(agg="median-ish").validate()


def test_bad_policy_output_is_reported():
    class Short(TreePolicy):
        def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
            return super().continue_from(problems, prefixes, max(1, n - 1), max_steps=max_steps, seed=seed)

    with pytest.raises(PrmkitError, match="policy"):
        search_one(PROBS[0], Short(), GoodScorer(), SearchConfig(n=4))


def test_result_round_trip():
    r = search_one(PROBS[0], TreePolicy(), GoodScorer(), SearchConfig(method="beam", n=4, width=2))
    back = SearchResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.to_dict() == r.to_dict()
    assert r.chosen.scores is not None and r.chosen.meta["problem_id"] == "p0"


def test_cli_search_arith(tmp_path):
    from typer.testing import CliRunner

    from prmkit.cli import app
    from prmkit.worlds.arith import generate_problems

    probs = tmp_path / "p.jsonl"
    write_problems(probs, generate_problems(4, seed=0, max_ops=4))
    out = tmp_path / "r.jsonl"
    recipe = tmp_path / "r.yaml"
    recipe.write_text("method: beam\nwidth: 2\npolicy_options: {error_rate: 0.3}\n")
    args = [
        "search",
        "--policy",
        "arith",
        "--scorer",
        "arith-oracle",
        "--n",
        "4",
        "--in",
        str(probs),
        "--out",
        str(out),
        "--config",
        str(recipe),
        "--chosen-out",
        str(tmp_path / "c.jsonl"),
        "--report",
        str(tmp_path / "rep.html"),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 4 and all(x["method"] == "beam" for x in lines)
    # the printed accuracy is the share of problems whose written result is correct
    printed = json.loads(res.stdout[res.stdout.index("{") :])["accuracy"]
    assert printed == pytest.approx(sum(bool(x["meta"]["correct"]) for x in lines) / len(lines))
    assert (tmp_path / "c.jsonl").exists() and "svg" in (tmp_path / "rep.html").read_text()
    # resume: nothing new to do, nothing duplicated
    res2 = CliRunner().invoke(app, [*args, "--resume"])
    assert res2.exit_code == 0, res2.output
    assert len(out.read_text().splitlines()) == 4
    bad = CliRunner().invoke(app, ["search", "--in", str(probs), "--out", str(out), "--method", "beam"])
    assert bad.exit_code != 0


def test_method_fields_name_every_registered_method_and_config_validates_names():
    from prmkit.search import METHOD_FIELDS

    # the config (below the registry) validates method names against METHOD_FIELDS
    assert sorted(METHOD_FIELDS) == SEARCHES.names()
    with pytest.raises(PrmkitError, match="unknown search method 'magic'; known: beam, best-of-n, dvts"):
        SearchConfig(method="magic").validate()
