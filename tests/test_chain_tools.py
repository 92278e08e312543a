"""Chain tools (GenPRM's execution feedback, :mod:`prmkit.scorers.chain_tools`): what they feed,
by hand; training masks exactly the fed tokens; inference forces them into the line."""

from __future__ import annotations

import pytest
import torch

from prmkit.errors import PrmkitError
from prmkit.models.packaged import resolve_model
from prmkit.models.tokenizer import load_tokenizer
from prmkit.records import Solution, labels_from_first_error
from prmkit.scorers.chain_tools import Calculator, Lookup, get_tool, step_contexts, tool_pieces
from prmkit.train.config import TrainConfig
from prmkit.train.generative import build_chain_examples
from prmkit.worlds.arith import check_steps, generate_problems

torch.set_num_threads(1)

# Hana buys 4 bunches of balloons. Each bunch has 3 balloons. After that, she uses 4 balloons.
PROBLEM = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]


@pytest.mark.parametrize(
    ("line", "fed"),
    [
        (" 7 known, 38 known; 7 + 38 =", " 45"),
        ("Step 4: 217 known, 7 known; 217 / 7 =", " 31"),
        (" 217 / 7 = 31, 31 - 11 =", " 20"),
        (" the answer is 39, 39 - 19 =", " 20"),
        (" 9 / 4 =", " 2.25"),
        (" 6 x 7 =", " 42"),
        (" 6 * 7 =", " 42"),
        (" 2 + 3 x 4 =", " 14"),  # precedence
        (" 7 + 38", None),  # no "=" yet
        (" 45 =", None),  # a bare number is not a computation
        (" x =", None),
        (" 7 + 38 = 45,", None),
    ],
)
def test_calculator_by_hand(line, fed):
    assert Calculator().complete(line) == fed


def test_lookup_by_hand():
    ctx = "Ava has 9 crates with 4 oranges in each. Ava lives 38 miles from the store. She eats 12."
    t = Lookup()
    assert t.complete(" 9 is", ctx) == " 9 crates"  # the number itself, with the word after it
    assert t.complete(" 9 is 9 crates, 4 is", ctx) == " 4 oranges"
    assert t.complete(" 37 is", ctx) == " 38 miles"  # nearest
    assert t.complete(" 11 is", ctx) == " 12"  # nearest; at the end of a sentence: no word
    assert t.complete(" 6.5 is", ctx) == " 4 oranges"  # equidistant from 4 and 9: the smaller
    assert t.complete(" 9 is", "2 cats, 9 dogs, 9 hens") == " 9 dogs"  # the first occurrence
    assert t.complete(" the answer is", ctx) is None  # not an operand's clause
    assert t.complete(" 9 is 9", ctx) is None
    assert t.complete(" 9 is", "no numbers here") is None
    # a number's word is two letters or more: the operator "x" is not one
    assert t.complete(" 5 is", "5 x 3 = 15 cakes") == " 5"


def test_several_tools_and_unknown_names():
    both = get_tool("calculator,lookup")
    assert both.complete(" 4 x 3 =", "") == " 12" and both.complete(" 4 is", "4 bunches") == " 4 bunches"
    assert get_tool("none") is None and get_tool(None) is None
    with pytest.raises(PrmkitError, match="unknown chain tool 'abacus'"):
        get_tool("abacus")
    assert (
        TrainConfig(format="generative", verifier_tool="calculator,lookup").verifier_tool
        == "calculator,lookup"
    )
    with pytest.raises(PrmkitError, match="verifier_tool"):
        TrainConfig(format="generative", verifier_tool="calculator,abacus")


def test_step_contexts_and_pieces_by_hand():
    assert step_contexts("P", ["s1", "s2", "s3"]) == ["P", "P\ns1", "P\ns1\ns2"]
    line = " 4 is 4 bunches, 3 is 3 balloons; 4 x 3 = 12, 12 - 12 = 0. correct"
    assert tool_pieces(line, get_tool("calculator,lookup"), PROBLEM.question) == [
        (" 4 is", False), (" 4 bunches", True), (", 3 is", False), (" 3 balloons", True),
        ("; 4 x 3 =", False), (" 12", True), (", 12 - 12 =", False), (" 0", True), (". correct", False),
    ]  # fmt: skip
    # a line that says otherwise than the tool is one no verifier with the tool could write
    with pytest.raises(
        PrmkitError, match=r"goes on with ' 13' after ' 4 x 3 =' where the calculator feeds ' 12'"
    ):
        tool_pieces(" 4 x 3 = 13. correct", Calculator())


def _record(steps, rid="r"):
    chk = check_steps(PROBLEM, steps)
    return Solution(id=rid, problem=PROBLEM.question, steps=steps, reference_answer=PROBLEM.reference_answer,
                    labels=labels_from_first_error(chk.first_error, len(steps)), meta=dict(PROBLEM.meta))  # fmt: skip


def test_training_masks_exactly_the_tool_output():
    tok = load_tokenizer(resolve_model("arith-base"))
    rec = _record(["4 x 3 = 12 balloons.", "12 - 4 = 9 balloons.", "The answer is 9."])
    plain, _ = build_chain_examples([rec], tok, None)
    ex, stats = build_chain_examples([rec], tok, None, tool=Calculator())
    ex = ex[0]
    assert ex["input_ids"] == plain[0]["input_ids"]  # this tokenizer cuts the pieces as the whole line
    trained = [i for i, v in enumerate(ex["labels"]) if v != -100]
    assert tok.decode([ex["input_ids"][i] for i in trained]) == (
        " 4 known, 3 known; 4 x 3 =, 12 - 12 =. correct\n 12 known, 4 known; 12 - 4 =, 9 - 8 =. incorrect\n"
    )
    fed = [i for i, v in enumerate(plain[0]["labels"]) if v != -100 and ex["labels"][i] == -100]
    assert tok.decode([ex["input_ids"][i] for i in fed]) == " 12 0 8 1"
    assert stats.tool_tokens == len(fed) == ex["fed"] and stats.tool_mismatch == 0
    assert stats.chain_tokens == len(trained)
    assert stats.prompt_tokens == len(ex["input_ids"]) - len(trained) - len(fed)
    # a chain the tool contradicts (a stated result copied after "=") is dropped and counted
    odd = Solution(id="odd", problem=rec.problem, steps=rec.steps, labels=rec.labels,
                   meta={"verification_chain": "Step 1: 4 x 3 = 12. correct\nStep 2: 12 - 4 = 9. incorrect"})  # fmt: skip
    got, stats = build_chain_examples([odd, rec], tok, None, tool=Calculator())
    assert len(got) == 1 and stats.tool_mismatch == 1 and stats.dropped_ids == ["odd"]


class _Fixed:
    """A tool that feeds ``" 99"`` after ``"="`` and records the contexts it saw."""

    name = "fixed"

    def __init__(self) -> None:
        self.contexts: list[str] = []

    def complete(self, line: str, context: str = "") -> str | None:
        if line.endswith("="):
            self.contexts.append(context)
            return " 99"
        return None


def test_inference_forces_the_tool_output_into_the_line(tmp_path):
    from prmkit.scorers.generative import GenerativeScorer
    from prmkit.train.trainer import train

    good = _record(["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons.", "The answer is 8."], "good")
    train(TrainConfig(out=str(tmp_path / "gv"), model="arith-base", format="generative", max_steps=40,
                      batch_size=2, lr=3e-3, warmup_ratio=0.0, threads=1, verifier_tool="calculator"),
          train_records=[good] * 8, eval_records=[])  # fmt: skip
    import json

    assert json.loads((tmp_path / "gv" / "prmkit.json").read_text())["verifier"]["tool"] == "calculator"
    from prmkit.scorers import load_scorer

    scorer = load_scorer(None, str(tmp_path / "gv"))
    assert isinstance(scorer, GenerativeScorer) and scorer.tool_name == "calculator"
    fixed = _Fixed()
    scorer.tool = fixed
    chains = scorer.sample([good.problem], [good.steps])[0]
    first = chains[0].text.splitlines()[0]
    # whatever the verifier would write after "=", the line holds what the tool fed
    assert "4 x 3 = 99" in first, first
    n_fed = len(scorer.tokenizer(" 99", add_special_tokens=False)["input_ids"])
    assert scorer.compute["tool_calls"] == len(fixed.contexts) >= 1
    assert scorer.compute["tool_tokens"] == n_fed * len(fixed.contexts)
    # the context of the first line is the problem alone
    assert fixed.contexts[0] == good.problem
