"""The tool-use world (issue #18 item 3): tasks, environment, noisy agent, exact checker, data
makers, oracle scorer and ``prmkit world tools`` commands.

The checker's expected verdicts on the hand-built trajectories below are written by hand from
the rule in docs/worlds.md, on a catalogue written out here too.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

import cli_util
import prmkit.worlds  # noqa: F401 - registers environment 'tools' and agent 'tools-noisy'
from prmkit.envs import AGENTS, ENVIRONMENTS, make_env
from prmkit.envs.policy import EnvPolicy
from prmkit.errors import PrmkitError
from prmkit.records import Problem, Solution, read_problems, read_records, write_problems, write_records
from prmkit.scorers import SCORERS, load_scorer
from prmkit.trajectory import ToolCall, Turn, steps_from_turns, turns_from_steps
from prmkit.worlds.tools import (
    TOOL_SCHEMAS,
    ToolsEnv,
    check_turns,
    evaluate_expression,
    generate_tasks,
    make_task,
    normalize_answer,
    reference_actions,
    world_of,
)
from prmkit.worlds.tools_agent import (
    DEFAULT_ERROR_RATE,
    ERROR_KINDS,
    NoisyToolsAgent,
    make_bench,
    make_pairs,
    make_pool,
    play,
    reference_turns,
)

# ---------------------------------------------------------------- a hand-written task

ITEMS = [
    {"id": "P-1001", "name": "blue steel kettle", "category": "kitchen", "price": 24, "stock": 13, "discount": 10},
    {"id": "P-1002", "name": "large blue steel kettle", "category": "kitchen", "price": 31, "stock": 7, "discount": 0},
    {"id": "P-1003", "name": "red steel kettle", "category": "kitchen", "price": 19, "stock": 40, "discount": 5},
    {"id": "P-2001", "name": "green glass vase", "category": "home", "price": 12, "stock": 5, "discount": 0},
    {"id": "P-2002", "name": "green glass vase set", "category": "home", "price": 30, "stock": 9, "discount": 15},
]  # fmt: skip


def hand_task(template: str = "discount", targets=("P-1001",), quantity: int | None = 3) -> Problem:
    spec = {"version": 1, "shop": "shop test", "template": template, "items": ITEMS,
            "targets": list(targets), "quantity": quantity}  # fmt: skip
    return Problem(id=f"hand-{template}", question=world_of_spec(spec), reference_answer="success",
                   meta={"tools": spec})  # fmt: skip


def world_of_spec(spec):
    from prmkit.worlds.tools import ToolWorld

    return ToolWorld(spec).question


def S(q):
    return ToolCall("search", {"query": q})


def L(i):
    return ToolCall("lookup", {"item_id": i})


def C(e):
    return ToolCall("calculate", {"expression": e})


def A(t):
    return ToolCall("answer", {"text": t})


GOOD = [S("blue steel kettle"), L("P-1001"), C("3 * 24 * (100 - 10) / 100"), A("64.8")]

# (trajectory, expected verdicts) on the discount task: 3 units of the blue steel kettle
# ($24, 10% off) = 64.8; budget 4 turns
HAND_CASES = {
    "perfect": (GOOD, [True, True, True, True]),
    "answer normalised": ([*GOOD[:3], A(" $64.80. ")], [True, True, True, True]),
    "wrong tool (lookup by name)": ([L("blue steel kettle"), *GOOD[1:]], [False, True, True, True]),
    "wrong argument (similar item's name)": ([S("red steel kettle"), *GOOD[1:]], [False, True, True, True]),
    "wrong argument (sibling listed in the results)": (
        [GOOD[0], L("P-1002"), C("3 * 31 * (100 - 0) / 100"), A("93")],
        [True, False, False, False],
    ),
    # the calculation after the failed lookup uses 24, which no correct step revealed
    "hallucinated argument (made-up id)": ([GOOD[0], L("P-9999"), *GOOD[2:]], [True, False, False, True]),
    "hallucinated argument (made-up name)": ([S("blue steel teapot"), *GOOD[1:]], [False, True, True, True]),
    "misread (42 for 24)": (
        [*GOOD[:2], C("3 * 42 * (100 - 10) / 100"), A("113.4")],
        [True, True, False, False],
    ),
    "wrong formula (discount forgotten)": ([*GOOD[:2], C("3 * 24"), A("72")], [True, True, False, False]),
    "early answer": ([GOOD[0], A("24")], [True, False]),
    "repeat": ([GOOD[0], GOOD[0], *GOOD[1:3]], [True, False, True, True]),
    "wrong final answer": ([*GOOD[:3], A("64")], [True, True, True, False]),
    "right answer without calculate": ([*GOOD[:2], A("64.8")], [True, True, True]),
    "lookup by id without search": (
        [L("P-1001"), C("3 * 24 * (100 - 10) / 100"), A("64.8")],
        [True, True, True],
    ),
    "past the budget": (
        [*GOOD[:2], L("P-1001"), C("3 * 24 * (100 - 10) / 100"), A("64.8")],
        [True, True, False, True, False],
    ),  # fmt: skip
    "unknown tool": ([ToolCall("buy", {"item_id": "P-1001"}), *GOOD[1:]], [False, True, True, True]),
    "free text": (["search blue steel kettle", *GOOD[1:]], [False, True, True, True]),
    "missing argument": ([ToolCall("search", {}), *GOOD[1:]], [False, True, True, True]),
    "extra argument": ([ToolCall("search", {"query": "blue steel kettle", "limit": "3"})], [False]),
    "non-string argument": ([GOOD[0], ToolCall("lookup", {"item_id": 1001})], [True, False]),
}


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_checker_hand_built_trajectories(name):
    task = hand_task()
    actions, expected = HAND_CASES[name]
    chk = check_turns(task, actions)
    assert chk.correct == expected, chk.reasons
    assert all((r is None) == c for r, c in zip(chk.reasons, chk.correct, strict=True))
    assert chk.first_error == next((i for i, c in enumerate(expected) if not c), -1)


def test_checker_reasons_and_success():
    task = hand_task()
    assert world_of(task).answer == "64.8" and world_of(task).budget == 4
    chk = check_turns(task, [GOOD[0], L("P-1002")])
    assert chk.reasons == [None, "P-1002 (large blue steel kettle) is not an item the question is about"]
    chk = check_turns(task, [*GOOD[:2], C("3 * 42 * (100 - 10) / 100")])
    assert chk.reasons[2] == "uses 42, not a number the task or an observation gave"
    assert check_turns(task, GOOD).success and check_turns(task, GOOD).labels == [1.0] * 4
    wrong = check_turns(task, [*GOOD[:3], A("64")])
    assert not wrong.success and wrong.answer == "64" and wrong.labels == [1.0, 1.0, 1.0, 0.0]
    # observations in turns are not read: a lying observation changes nothing
    turns = [Turn(a, observation="Result: 1") for a in GOOD]
    assert check_turns(task, turns).first_error == -1


def test_checker_two_targets():
    task = hand_task("sum", ("P-1001", "P-2001"), None)
    w = world_of(task)
    assert (w.answer, w.budget) == ("36", 6)
    good = [S("green glass vase"), L("P-2001"), S("blue steel kettle"), L("P-1001"), C("24 + 12"), A("36")]
    assert check_turns(task, good).correct == [True] * 6
    # the vase set's price for the vase: the lookup and everything built on it is wrong
    bad = [S("green glass vase"), L("P-2002"), S("blue steel kettle"), L("P-1001"), C("24 + 30"), A("54")]
    assert check_turns(task, bad).correct == [True, False, True, True, False, False]
    cheaper = hand_task("cheaper", ("P-1001", "P-2001"), None)
    assert world_of(cheaper).answer == "P-2001"
    assert check_turns(cheaper, [*good[:4], A("p-2001")]).success


def test_tools_and_error_observations():
    env = ToolsEnv()
    assert env.reset(hand_task()).startswith("[shop test] The blue steel kettle is on sale")
    r = env.step(S("blue steel kettle"))
    assert r.observation == (
        'Found 2 items for "blue steel kettle": [P-1001] blue steel kettle; [P-1002] large blue steel kettle'
    )
    assert env.step(L("p-1001")).observation == (
        "[P-1001] blue steel kettle | category: kitchen | price: $24 | stock: 13 | discount: 10%"
    )
    assert env.step(C("3 * 24 * (100 - 10) / 100")).observation == "Result: 64.8"
    env.reset(hand_task())
    for action, obs in [
        (ToolCall("buy", {}), "Error: unknown tool 'buy'; tools: search, lookup, calculate, answer"),
        (L("P-9999"), "Error: no item with id 'P-9999'"),
        (C("2 ** 3"), "Error: cannot evaluate '2 ** 3': only + - * / are allowed"),
    ]:
        r = env.step(action)
        assert (r.observation, r.done) == (obs, False)
    r = env.step(S("nothing here"))  # 4th turn: the budget is spent
    assert r.observation == 'No items match "nothing here".' and r.done and r.info["truncated"]
    assert not env.success
    for bad in [
        C("1 / 0"),
        C("__import__('os')"),
        C("x" * 300),
        S("  "),
        "hello",
        ToolCall("answer", {"text": 3}),
    ]:
        env.reset(hand_task())
        assert env.step(bad).observation.startswith("Error: ")
    env.reset(hand_task())
    r = env.step(A("64.80"))
    assert r.done and r.info == {"success": True, "answer": "64.80"} and r.reward == 1.0


def test_numbers_and_answers():
    assert normalize_answer("$1,064.80.") == "1064.8" and normalize_answer("P-1042 ") == "p-1042"
    assert normalize_answer("36.0") == normalize_answer("36") == "36"
    assert evaluate_expression("(1 + 2) * -3 / 4")[0] == Fraction(-9, 4)


def test_tasks_deterministic_and_json_round_trip(tmp_path):
    a, b = generate_tasks(30, seed=7), generate_tasks(30, seed=7)
    assert [t.to_dict() for t in a] == [t.to_dict() for t in b]
    assert make_task(7, 3).to_dict() == a[3].to_dict()
    assert [t.question for t in generate_tasks(30, seed=8)] != [t.question for t in a]
    assert len({t.question for t in generate_tasks(300, seed=0)}) == 300  # text -> task for the oracle
    templates = {t.meta["tools"]["template"] for t in generate_tasks(200, seed=0)}
    assert templates == {"price", "stock", "cost", "discount", "sum", "stock_diff", "cheaper"}
    write_problems(tmp_path / "t.jsonl", a)
    back = list(read_problems(tmp_path / "t.jsonl"))
    assert [t.to_dict() for t in back] == [t.to_dict() for t in a]
    for t in back:
        assert t.meta["tool_schemas"] == TOOL_SCHEMAS and t.meta["answer"] == world_of(t).answer
        assert check_turns(t, reference_actions(t)).success
    assert ToolsEnv.tools() == TOOL_SCHEMAS and ToolsEnv.tools() is not TOOL_SCHEMAS
    only = generate_tasks(20, seed=1, templates=["cost"])
    assert {t.meta["tools"]["template"] for t in only} == {"cost"}
    with pytest.raises(PrmkitError, match="unknown template"):
        make_task(0, templates=["nope"])


def test_trajectory_records_round_trip(tmp_path):
    recs = make_bench(12, seed=3)
    write_records(tmp_path / "b.jsonl", recs)
    back = list(read_records(tmp_path / "b.jsonl"))
    assert [r.to_dict() for r in back] == [r.to_dict() for r in recs]
    for r in back:
        assert r.steps == steps_from_turns(r.turns)
        task = Problem(id=r.problem_id, question=r.problem, reference_answer="success", meta=r.meta)
        chk = check_turns(task, r.turns)
        assert chk.first_error == r.first_error and chk.success == r.correct
        assert r.answer == ("success" if r.correct else "failure")
    assert sum(r.first_error >= 0 for r in recs) == 6


def test_perfect_agent_always_succeeds():
    perfect = NoisyToolsAgent(error_rate=0.0)
    for t in generate_tasks(400, seed=11):
        turns = play(t, perfect)
        assert [x.action for x in turns] == reference_actions(t)
        chk = check_turns(t, turns)
        assert chk.success and chk.first_error == -1 and not any(x.meta for x in turns)


def test_noisy_agent_errors_match_the_checker_and_rate():
    agent = NoisyToolsAgent()
    assert agent.error_rate == DEFAULT_ERROR_RATE
    tasks = generate_tasks(600, seed=12)
    wins = 0
    kinds = set()
    for i, t in enumerate(tasks):
        turns = play(t, agent, seed=i)
        chk = check_turns(t, turns)
        errs = [j for j, x in enumerate(turns) if x.meta.get("error")]
        kinds.update(turns[j].meta["error"] for j in errs)
        # the agent's first injected error is the checker's first error; errors are fatal
        assert chk.first_error == (errs[0] if errs else -1)
        assert chk.success == (not errs)
        wins += chk.success
        assert all(x.thought for x in turns)
    assert kinds == set(ERROR_KINDS)
    assert 0.35 <= wins / len(tasks) <= 0.5
    # same seed, same episode
    assert play(tasks[0], agent, seed=5) == play(tasks[0], agent, seed=5)


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_each_forced_error_kind_is_caught(kind):
    import random

    agent = NoisyToolsAgent(error_rate=1.0)
    made = 0
    for t in generate_tasks(40, seed=4):
        ref = reference_turns(t)
        for k in range(len(ref)):
            turn = agent.propose(t, ref[:k], random.Random(k), error=kind)
            verdict = check_turns(t, [*[x.action for x in ref[:k]], turn.action]).correct[-1]
            if turn.meta.get("error") == kind:
                made += 1
                assert not verdict
            else:
                assert turn.meta == {} and verdict  # the kind was impossible here: the right turn
    assert made >= 20


def test_agent_options():
    assert "tools-noisy" in AGENTS and "tools" in ENVIRONMENTS
    assert make_env("tools").default_agent == "tools-noisy"
    with pytest.raises(PrmkitError, match="error_rate"):
        NoisyToolsAgent(error_rate=1.5)
    with pytest.raises(PrmkitError, match="unknown error kind"):
        NoisyToolsAgent(error_weights={"typo": 1.0})
    only_repeat = NoisyToolsAgent(
        error_rate=1.0, error_weights={k: 0.0 for k in ERROR_KINDS} | {"repeat": 1.0}
    )
    t = generate_tasks(1, seed=0)[0]
    turns = play(t, only_repeat)
    assert turns[0].meta == {} and turns[1].meta == {"error": "repeat"} and turns[1].action == turns[0].action
    silent = NoisyToolsAgent(error_rate=0.0, thoughts=False)
    assert all(x.thought is None for x in play(t, silent))


def test_snapshot_fork_equals_replay():
    agent = NoisyToolsAgent(error_rate=0.3)
    for i, t in enumerate(generate_tasks(30, seed=9)):
        turns = play(t, agent, seed=i)
        acts = [x.action for x in turns]
        for k in range(len(acts)):
            env = ToolsEnv()
            env.replay(t, acts[:k])
            other = env.fork()
            assert other.actions == acts[:k] and other.task is t
            rest = [other.step(a) for a in acts[k:]]
            env.replay(t, acts)
            assert [r.observation for r in rest] == [x.observation for x in turns[k:]]
            assert other.success == env.success and other.done and env.done
            restored = ToolsEnv()
            restored.restore(env.snapshot())
            assert restored.success == env.success and restored.actions == env.actions


def test_envpolicy_episodes_graded_like_the_checker():
    tasks = generate_tasks(40, seed=13)
    pol = EnvPolicy(env="tools")
    gens = pol.sample(tasks, 4, seed=0)
    outcomes = set()
    for t, row in zip(tasks, gens, strict=True):
        for g in row:
            assert g.finished and g.meta["answer"] in ("success", "failure")
            outcomes.add(g.meta["answer"])
            turns = turns_from_steps(g.steps)
            chk = check_turns(t, turns)
            assert chk.success == (g.meta["answer"] == "success") == g.meta["success"]
            errs = [j for j, x in enumerate(g.meta["turns"]) if x.get("meta", {}).get("error")]
            assert chk.first_error == (errs[0] if errs else -1)
    assert outcomes == {"success", "failure"}
    # continuing a prefix with an error never succeeds; a correct prefix usually does
    t = next(x for x in tasks if world_of(x).budget == 3)
    ref = steps_from_turns(reference_turns(t))
    bad = steps_from_turns([Turn(ToolCall("answer", {"text": "-1"}))])
    assert all(g.meta["answer"] == "failure" for g in pol.continue_from([t], [bad], 3)[0])
    assert any(g.meta["answer"] == "success" for g in pol.continue_from([t], [ref[:1]], 8, seed=1)[0])


def test_oracle_scorer(tmp_path):
    assert "tools-oracle" in SCORERS
    tasks = generate_tasks(5, seed=2)
    write_problems(tmp_path / "t.jsonl", tasks)
    oracle = load_scorer("tools-oracle", str(tmp_path / "t.jsonl"))
    t = next(x for x in tasks if world_of(x).budget == 3)
    ref = steps_from_turns(reference_turns(t))
    assert oracle.score_batch([t.question], [ref])[0] == [1.0] * len(ref)
    assert oracle.score_batch([t.question], [ref[:1]])[0] == [1.0]  # an unfinished prefix
    wrong = [ref[0], 'Action: lookup({"item_id": "P-0000"})', *ref[2:]]
    assert oracle.score_batch([t.question], [wrong])[0] == [1.0] + [0.0] * (len(ref) - 1)
    assert oracle.score_batch([t.question], [["no action here", *ref]])[0] == [0.0] * (len(ref) + 1)
    with pytest.raises(PrmkitError, match="not among"):
        oracle.score_batch(["another question"], [ref])
    write_records(tmp_path / "b.jsonl", make_bench(4, seed=2))  # records carry the spec too
    from_records = load_scorer("tools-oracle", problems_file=str(tmp_path / "b.jsonl"))
    rec = next(iter(read_records(tmp_path / "b.jsonl")))
    assert from_records.score_batch([rec.problem], [rec.steps])[0][: rec.first_error + 1 or None] == [
        1.0 if lab else 0.0 for lab in rec.labels[: rec.first_error + 1 or None]
    ]


def test_pool_and_pairs():
    tasks = generate_tasks(6, seed=5)
    pool = make_pool(tasks, 3, seed=1)
    assert len(pool) == 18 and len({r.id for r in pool}) == 18
    for r in pool:
        fe = r.first_error
        assert r.labels == ([1.0] * len(r.steps) if fe < 0 else [1.0] * fe + [0.0] * (len(r.steps) - fe))
        assert len(r.meta["step_correct"]) == len(r.steps) and isinstance(r.meta["correct"], bool)
    pairs = make_pairs(30, seed=6)
    assert {p["error"] for p in pairs} == set(ERROR_KINDS)
    by_id = {t.id: t for t in generate_tasks(30, seed=6)}
    for p in pairs:
        assert set(p) >= {"id", "task", "history", "correct", "incorrect", "error", "tools"}
        json.dumps(p)
        task = by_id[p["problem_id"]]
        assert p["task"] == task.question and p["tools"] == TOOL_SCHEMAS and len(p["history"]) == p["turn"]
        hist = [Solution.from_dict({"id": "x", "problem": "q", "turns": [h]}).turns[0] for h in p["history"]]
        good = Solution.from_dict({"id": "x", "problem": "q", "turns": [p["correct"]]}).turns[0]
        bad = Solution.from_dict({"id": "x", "problem": "q", "turns": [p["incorrect"]]}).turns[0]
        assert check_turns(task, [*hist, good]).correct[-1]
        assert not check_turns(task, [*hist, bad]).correct[-1]
        assert p["reason"]
    assert make_pairs(30, seed=6) == pairs


def test_cli_commands_write_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runs = [
        (["tasks", "--n", "4", "--out", "t.jsonl"], "wrote 4 tasks to t.jsonl"),
        (["bench", "--n", "6", "--out", "b.jsonl", "--seed", "2"], "wrote 6 records to b.jsonl"),
        (["bench", "--n", "4", "--out", "b.json", "--format", "processbench"], "wrote 4 records to b.json"),
        (["pool", "--n-problems", "2", "--n", "3", "--out", "p.jsonl"], "wrote 6 trajectories to p.jsonl"),
        (
            ["pairs", "--n", "5", "--out", "pairs.jsonl", "--templates", "price,sum"],
            "wrote 5 pairs to pairs.jsonl",
        ),
    ]
    for args, msg in runs:
        code, out, err = cli_util.run_cli(["world", "tools", *args], monkeypatch, capsys)
        assert code == 0, err
        assert msg in out
    assert len(list(read_problems(tmp_path / "t.jsonl"))) == 4
    assert sum(r.first_error >= 0 for r in read_records(tmp_path / "b.jsonl")) == 3
    pb = json.loads((tmp_path / "b.json").read_text())
    assert pb[0]["generator"] == "prmkit-tools" and set(pb[0]) >= {"steps", "label", "final_answer_correct"}
    rows = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert {r["spec"]["template"] for r in rows} <= {"price", "sum"}
    code, out, err = cli_util.run_cli(
        ["world", "tools", "tasks", "--templates", "bogus"], monkeypatch, capsys
    )
    assert code == 2 and "--templates" in err
