"""Verifiers that solve first (``GenerativeScorer(solve=True)``): the chain opens with the
verifier's own solution, training learns it (masking what a tool feeds), inference writes it
after the problem, ends it at an answer, then checks each step with it in view."""

from __future__ import annotations

import json

import pytest
import torch

from prmkit.errors import PrmkitError
from prmkit.models.packaged import resolve_model
from prmkit.models.tokenizer import load_tokenizer
from prmkit.records import Solution, labels_from_first_error
from prmkit.scorers.chain_tools import get_tool, step_contexts
from prmkit.scorers.generative import MAX_SOLVE_LINES, GenerativeScorer, problem_length
from prmkit.train.config import TrainConfig
from prmkit.train.generative import build_chain_examples, chain_solution
from prmkit.worlds.arith import check_steps, generate_problems

torch.set_num_threads(1)

# Hana buys 4 bunches of balloons. Each bunch has 3 balloons. After that, she uses 4 balloons.
PROBLEM = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]
OWN = [
    "She buys 4 bunches of 3 balloons, so 4 x 3 = 12 balloons.",
    "12 - 4 = 8 balloons.",
    "The answer is 8.",
]


def _record(steps, chain_lines, rid="r", solution=OWN):
    chk = check_steps(PROBLEM, steps)
    head = ["Solve:", *solution] if solution is not None else []
    return Solution(id=rid, problem=PROBLEM.question, steps=steps, reference_answer=PROBLEM.reference_answer,
                    labels=labels_from_first_error(chk.first_error, len(steps)),
                    meta={**PROBLEM.meta, "verification_chain": "\n".join([*head, *chain_lines])})  # fmt: skip


BAD = _record(["4 x 3 = 12 balloons.", "12 - 4 = 9 balloons.", "The answer is 9."],
              ["Step 1: 12 is 12 balloons. correct", "Step 2: 9 is 8 balloons. incorrect"])  # fmt: skip


def test_chain_solution_by_hand():
    assert chain_solution(BAD.meta["verification_chain"]) == OWN
    assert chain_solution("Step 1: 12 is 12. correct") is None
    assert chain_solution("Solve:\nStep 1: 12 is 12. correct") == []


def test_training_learns_the_solution_and_masks_the_problem_steps_markers_and_tool_output():
    tok = load_tokenizer(resolve_model("arith-base"))
    ex, stats = build_chain_examples([BAD], tok, None, tool=get_tool("calculator,lookup"))
    assert stats.solve and stats.examples == 1 and stats.tool_mismatch == 0
    ids, labels = ex[0]["input_ids"], ex[0]["labels"]
    # the whole text, in the order the scorer reads and writes it
    assert tok.decode(ids) == (
        f"{PROBLEM.question}\nSolve:\n{OWN[0]}\n{OWN[1]}\n{OWN[2]}\n"
        "4 x 3 = 12 balloons.\nCheck: 12 is 12 balloons. correct\n"
        "12 - 4 = 9 balloons.\nCheck: 9 is 8 balloons. incorrect\n"
    )
    # learned: the solution and the check lines, less what the tools fed: the calculator's 8
    # after the pure expression "12 - 4 =" (not "so 4 x 3 =": a clause with words), the lookups
    trained = tok.decode([t for t, v in zip(ids, labels, strict=True) if v != -100])
    assert trained == (
        "She buys 4 bunches of 3 balloons, so 4 x 3 = 12 balloons.\n12 - 4 = balloons.\nThe answer is 8.\n"
        " 12 is. correct\n 9 is. incorrect\n"
    )
    n_sol = len(tok(f"{OWN[0]}\n{OWN[1]}\n{OWN[2]}\n", add_special_tokens=False)["input_ids"])
    n_fed_sol = len(tok(" 8", add_special_tokens=False)["input_ids"])
    assert stats.solution_tokens == n_sol - n_fed_sol
    fed = " 8 12 balloons 8 balloons"
    assert stats.tool_tokens == ex[0]["fed"] == len(tok(fed, add_special_tokens=False)["input_ids"])


def test_training_can_keep_the_solution_out_of_the_loss():
    tok = load_tokenizer(resolve_model("arith-base"))
    ex, stats = build_chain_examples(
        [BAD], tok, None, tool=get_tool("calculator,lookup"), learn_solution=False
    )
    ids, labels = ex[0]["input_ids"], ex[0]["labels"]
    assert (
        tok.decode([t for t, v in zip(ids, labels, strict=True) if v != -100])
        == " 12 is. correct\n 9 is. incorrect\n"
    )
    assert stats.solution_tokens == 0 and stats.solve
    # the input is the same as when the solution is learned
    assert (
        ids == build_chain_examples([BAD], tok, None, tool=get_tool("calculator,lookup"))[0][0]["input_ids"]
    )


def test_training_refuses_a_mix_of_chains_with_and_without_a_solution():
    tok = load_tokenizer(resolve_model("arith-base"))
    plain = _record(BAD.steps, ["Step 1: 12 is 12 balloons. correct", "Step 2: 9 is 8 balloons. incorrect"],
                    rid="plain", solution=None)  # fmt: skip
    with pytest.raises(PrmkitError, match="record 'plain': its chain does not open with the verifier's own"):
        build_chain_examples([BAD, plain], tok, None)
    _, stats = build_chain_examples([plain], tok, None)
    assert not stats.solve


def test_problem_length_finds_where_the_solution_goes():
    tok = load_tokenizer(resolve_model("arith-base"))
    from prmkit.scorers.generative import step_segments

    first = step_segments(tok, [PROBLEM.question], [BAD.steps])[0][0]
    n = problem_length(tok, PROBLEM.question, first)
    assert tok.decode(first[:n]) == PROBLEM.question + "\n"
    assert tok.decode(first[n:]) == BAD.steps[0] + "\n"
    with pytest.raises(PrmkitError, match="do not open the rendered solution"):
        problem_length(tok, "Another problem.", first)


class _Recorder:
    """The lookup tool, recording the context of every call it feeds."""

    name = "recorder"

    def __init__(self) -> None:
        self.tool = get_tool("calculator,lookup")
        self.calls: list[tuple[str, str]] = []

    def complete(self, line: str, context: str = "") -> str | None:
        fed = self.tool.complete(line, context)
        if fed is not None:
            self.calls.append((line, context))
        return fed


GOOD = _record(["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons.", "The answer is 8."],
               ["Step 1: 12 is 12 balloons. correct", "Step 2: 8 is 8 balloons. correct",
                "Step 3: the answer is 8, 8 - 8 = 0. correct"], rid="good")  # fmt: skip


@pytest.fixture(scope="module")
def solve_verifier(tmp_path_factory):
    """A solve verifier fine-tuned briefly from ``arith-base`` (its prmkit.json's base_model)."""
    from prmkit.train.trainer import train

    out = tmp_path_factory.mktemp("gv") / "gv"
    train(TrainConfig(out=str(out), model="arith-base", format="generative", max_steps=60,
                      batch_size=2, lr=3e-3, warmup_ratio=0.0, threads=1, verifier_tool="calculator,lookup"),
          train_records=[GOOD, BAD] * 4, eval_records=[])  # fmt: skip
    return out


def test_inference_writes_the_solution_first_then_checks_with_it_in_view(solve_verifier):
    from prmkit.scorers import load_scorer

    good = GOOD
    meta = json.loads((solve_verifier / "prmkit.json").read_text())
    assert meta["verifier"]["solve"] is True and meta["verifier"]["tool"] == "calculator,lookup"
    scorer = load_scorer(None, str(solve_verifier))
    assert isinstance(scorer, GenerativeScorer) and scorer.solve
    rec = _Recorder()
    scorer.tool = rec
    chain = scorer.sample([good.problem], [good.steps])[0][0]
    own = chain_solution(chain.text)
    assert chain.text.startswith("Solve:\n") and own
    # the solution ends at its first line that states an answer (or after MAX_SOLVE_LINES)
    answers = ["answer is" in x for x in own]
    assert (answers[-1] and not any(answers[:-1])) or len(own) == MAX_SOLVE_LINES
    assert scorer.compute["solution_tokens"] >= len(own)
    # on a check line (the verifier's lines open with a space) the tool sees the problem, the
    # verifier's own solution and the steps before; on a line of the solution, the problem and
    # the solution's lines before
    checks = [ctx for line, ctx in rec.calls if line.startswith(" ")]
    lines = [ctx for line, ctx in rec.calls if not line.startswith(" ")]
    assert checks and all(c in step_contexts(good.problem, good.steps, "\n".join(own)) for c in checks)
    assert all(c in step_contexts(good.problem, own) for c in lines)
    # the verdicts are read from the check lines only
    assert len(chain.verdicts) == 3


def test_vote_over_own_solutions_by_hand():
    """docs/methods.md H4: three chains, each with its own solution, check the step
    ``12 - 4 = 8 balloons.`` (step 2) by looking its result up in what they read."""
    from prmkit.scorers.generative import aggregate

    lookup = get_tool("lookup")
    right = "4 x 3 = 12 balloons.\n12 - 4 = 8 balloons.\nThe answer is 8."
    wrong = "4 x 3 = 12 balloons.\n12 + 4 = 16 balloons.\nThe answer is 16."
    steps = ["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons.", "The answer is 8."]
    fed = [
        lookup.complete(" 8 is", step_contexts(PROBLEM.question, steps, own)[1])
        for own in (right, right, wrong)
    ]
    # found as itself in a right solution; against the wrong one the nearest numbers are 4 and
    # 12 (both 4 away): the smaller, first written in the problem ("4 bunches")
    assert fed == [" 8 balloons", " 8 balloons", " 4 bunches"]
    verdicts = [[1.0, 1.0 if f.split()[0] == "8" else 0.0] for f in fed]
    assert aggregate(verdicts, "vote") == [1.0, pytest.approx(2 / 3)]
    # a step with the slip 12 - 4 = 9: every chain finds 8 nearest (1 away) and calls it wrong
    slip = [steps[0], "12 - 4 = 9 balloons."]
    got = [lookup.complete(" 9 is", step_contexts(PROBLEM.question, slip, own)[1]) for own in (right, wrong)]
    assert got == [" 8 balloons", " 12 balloons"]  # 12 is 3 away, 4 is 5 away


def _greedy(model, ids: list[int], n: int) -> list[int]:
    """``n`` greedy tokens after ``ids`` by transformers' own ``generate``."""
    out = model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, pad_token_id=0)
    return out[0, len(ids) :].tolist()


def test_a_solver_writes_the_solution_and_the_verifier_reads_it(solve_verifier):
    """``solver="base"``: the base LM continues ``problem \\n`` (greedy: exactly its own
    ``generate``), and the verifier's first check line is its greedy continuation of ``problem
    \\n Solve: \\n <that solution> step_1 \\n Check:``."""
    from transformers import AutoModelForCausalLM

    from prmkit.scorers.generative import CHECK_MARKER, SOLVE_MARKER, step_segments

    scorer = GenerativeScorer.load(str(solve_verifier), solver="base", tool=None)
    assert scorer.solver_name == "base"
    chain = scorer.sample([GOOD.problem], [GOOD.steps])[0][0]
    tok = load_tokenizer(resolve_model("arith-base"))
    base = AutoModelForCausalLM.from_pretrained(resolve_model("arith-base"), dtype=torch.float32).eval()
    first = step_segments(tok, [GOOD.problem], [GOOD.steps])[0][0]
    head = first[: problem_length(tok, GOOD.problem, first)]
    text = tok.decode(_greedy(base, head, 160))
    lines = text.split("\n")
    n = next(i for i, x in enumerate(lines) if "The answer is" in x) + 1
    assert chain.text.split("\n")[: n + 1] == [
        "Solve:",
        *lines[:n],
    ]  # the base's greedy solution, to its answer
    solution = tok("\n".join(lines[:n]) + "\n", add_special_tokens=False)["input_ids"]
    verifier = AutoModelForCausalLM.from_pretrained(str(solve_verifier), dtype=torch.float32).eval()
    fed = head + tok(SOLVE_MARKER + "\n", add_special_tokens=False)["input_ids"] + solution
    fed += first[len(head) :] + tok(CHECK_MARKER, add_special_tokens=False)["input_ids"]
    check = tok.decode(_greedy(verifier, fed, 40)).split("\n")[0]
    assert chain.text.split("\n")[n + 1] == "Step 1:" + check
    assert scorer.compute["solution_tokens"] == len(solution) - n  # the lines less their newlines
    # and at every token of that line, P(correct) / (P(correct) + P(incorrect)) is the forward pass's
    row = scorer._generate(
        step_segments(tok, [GOOD.problem], [GOOD.steps]), [(GOOD.problem, GOOD.steps)], 1, 1024
    )[0]
    line = row.lines[0]
    logits = verifier(torch.tensor([fed + line])).logits[0, len(fed) - 1 : len(fed) - 1 + len(line)]
    want = torch.sigmoid(logits[:, scorer.correct_id] - logits[:, scorer.incorrect_id])
    assert torch.allclose(torch.tensor(row.line_pc[0]), want, atol=1e-5)


def test_solver_errors(solve_verifier):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    with pytest.raises(PrmkitError, match="set solve=true"):
        GenerativeScorer.load(str(solve_verifier), solver="base", solve=False)
    meta = json.loads((solve_verifier / "prmkit.json").read_text())
    model = _load(solve_verifier)
    tok = load_tokenizer(str(solve_verifier))
    with pytest.raises(PrmkitError, match="solver .*nowhere: cannot load its tokenizer"):
        GenerativeScorer(model, tok, solve=True, solver=str(solve_verifier / "nowhere"))
    with pytest.raises(PrmkitError, match="names no base_model"):
        GenerativeScorer(model, tok, solve=True, solver="base", meta={**meta, "base_model": None})
    small = Qwen2ForCausalLM(Qwen2Config(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))  # fmt: skip
    with pytest.raises(PrmkitError, match="vocabulary is smaller"):
        GenerativeScorer(model, tok, solve=True, solver=small)
    from prmkit.models.tiny import train_tokenizer

    other = solve_verifier.parent / "other"
    small.save_pretrained(other)
    train_tokenizer(["a b c"], vocab_size=280).save_pretrained(other)
    with pytest.raises(PrmkitError, match="its tokenizer's vocabulary is not the verifier's"):
        GenerativeScorer(model, tok, solve=True, solver=str(other))


def _load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()


def test_greedy_check_on_sampled_solutions(solve_verifier):
    """``check_temperature=0``: the solver samples each chain's solution, the verifier checks it
    greedily: every chain's first check line is the verifier's greedy ``generate`` after what it
    read, however the solutions differ."""
    from prmkit.scorers.generative import CHECK_MARKER, SOLVE_MARKER, step_segments

    scorer = GenerativeScorer.load(
        str(solve_verifier), solver="base", tool=None, k=4, temperature=1.0, check_temperature=0, seed=3
    )
    tok = scorer.tokenizer
    segs = step_segments(tok, [GOOD.problem], [GOOD.steps])
    rows = scorer._generate(segs, [(GOOD.problem, GOOD.steps)], 4, 1024)
    assert len({tuple(r.solution_ids) for r in rows}) > 1  # the solutions are sampled
    head = segs[0][0][: problem_length(tok, GOOD.problem, segs[0][0])]
    verifier = _load(solve_verifier)
    marker = tok(CHECK_MARKER, add_special_tokens=False)["input_ids"]
    for row in rows:
        fed = head + tok(SOLVE_MARKER + "\n", add_special_tokens=False)["input_ids"] + row.solution_ids
        fed += segs[0][0][len(head) :] + marker
        want = _greedy(verifier, fed, len(row.lines[0]) + 1)
        assert row.lines[0] == want[: len(row.lines[0])] and "\n" in tok.decode(want[len(row.lines[0]) :])
    with pytest.raises(PrmkitError, match="k equal chains"):
        GenerativeScorer(verifier, tok, k=2, temperature=1.0, check_temperature=0)


def test_training_records_the_solver(tmp_path):
    """``--verifier-solver base --verifier-check-temperature 0``: saved in prmkit.json's verifier
    block, used by the held-out evaluation and by ``load_scorer``; without solution chains an error
    naming the field, before any training step."""
    from prmkit.scorers import load_scorer
    from prmkit.train.trainer import train

    cfg = dict(model="arith-base", format="generative", max_steps=2, batch_size=2, warmup_ratio=0.0,
               threads=1, verifier_solver="base", verifier_check_temperature=0.0)  # fmt: skip
    res = train(TrainConfig(out=str(tmp_path / "gv"), **cfg), train_records=[GOOD, BAD], eval_records=[GOOD])
    assert "eval_pb_f1" in res.metrics
    meta = json.loads((tmp_path / "gv" / "prmkit.json").read_text())
    assert meta["verifier"]["solver"] == "base" and meta["verifier"]["check_temperature"] == 0.0
    scorer = load_scorer(None, str(tmp_path / "gv"))
    assert scorer.solver_name == "base" and scorer.solver is not None and scorer.check_temperature == 0.0
    plain = _record(BAD.steps, ["Step 1: 12 is 12 balloons. correct", "Step 2: 9 is 8 balloons. incorrect"],
                    solution=None)  # fmt: skip
    with pytest.raises(PrmkitError, match="verifier_solver"):
        train(TrainConfig(out=str(tmp_path / "plain"), **cfg), train_records=[plain], eval_records=[])
    assert not (tmp_path / "plain" / "train_log.jsonl").exists()
