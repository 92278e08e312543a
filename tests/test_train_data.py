"""Training examples: labels exactly at render positions, after-error options, soft labels, batching."""

from __future__ import annotations

import pytest

from prmkit.errors import PrmkitError
from prmkit.records import Solution, write_records
from prmkit.render import render
from prmkit.train.data import (
    IGNORE,
    PRMCollator,
    build_example,
    build_examples,
    er_prm_label,
    load_records,
    outcome_of,
    split_records,
    step_targets,
)


@pytest.fixture(scope="module")
def tok():
    from prmkit.models.tiny import train_tokenizer

    texts = ["Tom has 12 apples. 12 + 30 = 42. 42 x 2 = 84. The answer is 84.", "ки + - step"]
    return train_tokenizer(texts, vocab_size=320)


SOL = Solution(
    id="q#0",
    problem="Tom has 12 apples and buys 30 more, then doubles them. How many?",
    steps=["12 + 30 = 42.", "42 x 2 = 85.", "The answer is 85."],
    labels=[1.0, 0.0, 0.0],
)


@pytest.mark.parametrize("fmt", ["token-classification", "value-head", "lm-token-pair", "qwen-prm"])
def test_labels_exactly_at_render_positions(tok, fmt):
    sol = Solution(id="a", problem=SOL.problem, steps=SOL.steps, labels=[1.0, 0.75, 0.25])
    ex = build_example(sol, fmt, tok, after_error="as-is")
    r = render(sol.problem, sol.steps, fmt, tok)
    assert ex["input_ids"] == r.input_ids
    assert len(ex["labels"]) == len(ex["input_ids"])
    labelled = [i for i, v in enumerate(ex["labels"]) if v != IGNORE]
    assert labelled == r.step_positions
    assert [ex["labels"][p] for p in r.step_positions] == [1.0, 0.75, 0.25]
    assert ex["n_labelled"] == len(sol.steps)


def test_drop_after_first_error_is_default(tok):
    ex = build_example(SOL, "token-classification", tok)
    full = render(SOL.problem, SOL.steps, "token-classification", tok)
    cut = render(SOL.problem, SOL.steps[:2], "token-classification", tok)
    assert ex["input_ids"] == cut.input_ids and len(ex["input_ids"]) < len(full.input_ids)
    assert [v for v in ex["labels"] if v != IGNORE] == [1.0, 0.0]
    assert ex["n_steps"] == 2


def test_keep_after_first_error_labels_zero(tok):
    sol = Solution(id="b", problem=SOL.problem, steps=SOL.steps, labels=[1.0, 0.0, None])
    ex = build_example(sol, "token-classification", tok, after_error="keep")
    r = render(sol.problem, sol.steps, "token-classification", tok)
    assert [ex["labels"][p] for p in r.step_positions] == [1.0, 0.0, 0.0]
    as_is = build_example(sol, "token-classification", tok, after_error="as-is")
    assert [v for v in as_is["labels"] if v != IGNORE] == [1.0, 0.0]  # unknown: not trained
    assert as_is["n_unknown"] == 1


def test_soft_labels_stay_floats_through_collator(tok):
    sol = Solution(id="c", problem="p", steps=["1 + 1 = 2.", "2 + 1 = 3."], labels=[0.625, 0.3])
    ex = build_example(sol, "token-classification", tok)
    assert [v for v in ex["labels"] if v != IGNORE] == [0.625, 0.3]
    batch = PRMCollator(pad_id=tok.pad_token_id)([ex])
    vals = batch["labels"][batch["labels"] != IGNORE].tolist()
    assert vals == pytest.approx([0.625, 0.3])
    assert str(batch["labels"].dtype) == "torch.float32"


def test_truncated_steps_are_counted_not_shifted(tok):
    sol = Solution(id="d", problem="p " * 5, steps=["12 + 30 = 42."] * 6, labels=[1.0] * 6)
    full = render(sol.problem, sol.steps, "token-classification", tok)
    cut_at = full.step_positions[2] + 1
    exs, stats = build_examples([sol], "token-classification", tok, max_length=cut_at)
    ex = exs[0]
    assert len(ex["input_ids"]) == cut_at
    assert [i for i, v in enumerate(ex["labels"]) if v != IGNORE] == full.step_positions[:3]
    assert stats.steps_truncated == 3 and stats.steps_labelled == 3


def test_er_prm_transform_d4_examples():
    assert er_prm_label(0.375, 1) == pytest.approx(0.4973, abs=1e-4)
    assert er_prm_label(0.375, 2) == pytest.approx(0.6113, abs=1e-4)
    assert er_prm_label(0.375, 5) == pytest.approx(0.8061, abs=1e-4)
    assert er_prm_label(0.375, 0.01) == pytest.approx(0.3762, abs=1e-4)
    assert er_prm_label(0.0, 3) == 0.0 and er_prm_label(1.0, 3) == pytest.approx(1.0)
    sol = Solution(id="e", problem="p", steps=["a", "b"], labels=[0.75, 0.375])
    _, ys = step_targets(sol, after_error="as-is", label_transform="er-prm", er_eta=2)
    assert ys[1] == pytest.approx(0.6113, abs=1e-4) and ys[0] > 0.75


def test_outcome_labels():
    # meta.correct wins over labels that would say 1.0
    assert outcome_of(Solution(id="x", problem="p", steps=["a"], labels=[1], meta={"correct": False})) == 0.0
    assert outcome_of(Solution(id="x", problem="p", steps=["a", "b"], labels=[1, 1])) == 1.0
    assert outcome_of(Solution(id="x", problem="p", steps=["a", "b"], labels=[1, 0])) == 0.0
    with pytest.raises(PrmkitError):
        outcome_of(Solution(id="x", problem="p", steps=["a"]))


def test_unlabelled_record_raises_naming_it(tok):
    with pytest.raises(PrmkitError, match="zz#1"):
        build_examples([Solution(id="zz#1", problem="p", steps=["a"])], "token-classification", tok)


def test_load_records_from_directory(tmp_path):
    write_records(tmp_path / "a.jsonl", [SOL])
    write_records(tmp_path / "sub" / "b.jsonl", [SOL, SOL])
    assert len(load_records(tmp_path)) == 3
    (tmp_path / "manifest.json").write_text('{"config": {}}')  # e.g. a labelling run directory
    assert len(load_records(tmp_path)) == 3
    with pytest.raises(PrmkitError, match="not found"):
        load_records(tmp_path / "missing.jsonl")


def test_split_is_by_problem():
    recs = [Solution(id=f"p{i % 7}#{i}", problem="x", steps=["s"], labels=[1]) for i in range(40)]
    tr, ev = split_records(recs, 0.3, seed=1)
    assert ev and tr and {r.problem_id for r in tr}.isdisjoint({r.problem_id for r in ev})


def test_length_grouping_cuts_padding_and_shuffles_batches(tok):
    """Length-grouped batches pad far less than random ones, and (unlike the Hugging Face sampler,
    which walks each megabatch from long to short) come in a shuffled order."""
    import random

    from prmkit.train.data import ShuffledLengthGroupedSampler

    rng = random.Random(0)
    lengths = [rng.randint(10, 300) for _ in range(512)]
    exs = [{"input_ids": [5] * n, "labels": [IGNORE] * n} for n in lengths]

    def batches(order):
        return [order[s : s + 16] for s in range(0, len(order), 16)]

    def pad_frac(order):
        col = PRMCollator(pad_id=0)
        for b in batches(order):
            col([exs[i] for i in b])
        return 1 - col.tokens_seen / col.tokens_padded

    rand = list(range(len(exs)))
    rng.shuffle(rand)
    sampler = ShuffledLengthGroupedSampler(lengths, 16, seed=0)
    grouped = list(sampler)
    assert sorted(grouped) == list(range(len(exs)))
    assert pad_frac(grouped) < 0.1 < pad_frac(rand)
    # batch order is not a long-to-short sweep: the longest length of consecutive batches goes up too
    tops = [max(lengths[i] for i in b) for b in batches(grouped)]
    ups = sum(b > a for a, b in zip(tops, tops[1:], strict=False))
    assert 0.3 < ups / (len(tops) - 1) < 0.7
    assert list(sampler) != grouped  # a new order each epoch
    assert list(ShuffledLengthGroupedSampler(lengths, 16, seed=0)) == grouped  # deterministic
