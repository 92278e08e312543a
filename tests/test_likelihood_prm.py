"""The ``lm-likelihood`` PRM family: features and head checked by hand, scores equal to a plain
transformers forward pass, training -> checkpoint -> ``load_scorer`` round trip."""

from __future__ import annotations

import math

import pytest
import torch

from prmkit.models.tiny import build_tiny_model, train_tokenizer
from prmkit.records import Solution
from prmkit.scorers import load_scorer
from prmkit.scorers.likelihood import LikelihoodScorer, apply_head, digit_mask
from prmkit.train.likelihood import _labelled_steps, fit_head

TEXTS = ["Tom has 3 apples and buys 4 more, so 3 + 4 = 7 apples.", "The answer is 7.", "12 x 3 = 36"]


@pytest.fixture(scope="module")
def lm():
    tok = train_tokenizer(TEXTS * 5, vocab_size=300)
    torch.manual_seed(0)
    model = build_tiny_model("causal-lm", tok, hidden_size=32, num_layers=1, num_heads=2).eval()
    return model, tok


def _reference_scores(model, tok, problem, steps, head):
    """The family's definition, written out: pieces tokenized separately, joined by newline tokens,
    one forward, log p of each step token, five features, logistic head."""
    nl = tok("\n", add_special_tokens=False)["input_ids"]
    ids, spans = list(tok(problem, add_special_tokens=False)["input_ids"]) + nl, []
    for st in steps:
        s = tok(st, add_special_tokens=False)["input_ids"]
        spans.append((len(ids), len(ids) + len(s)))
        ids += s + nl
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits.double(), -1)
    out = []
    for a, b in spans:
        lp = [float(logp[t - 1, ids[t]]) for t in range(a, b)]
        dig = [
            v
            for t, v in zip(range(a, b), lp, strict=True)
            if tok.convert_ids_to_tokens(ids[t]).lstrip("Ġ").isdigit()
        ]
        f = [
            min(lp),
            sum(lp),
            min(dig) if dig else 0.0,
            sum(dig) if dig else 0.0,
            sum(v < math.log(0.1) for v in lp),
        ]
        z = head["b"] + sum(
            w * (x - m) / s for x, m, s, w in zip(f, head["mu"], head["sigma"], head["w"], strict=True)
        )
        out.append(1 / (1 + math.exp(-z)))
    return out


def test_scores_equal_a_plain_forward_pass(lm):
    model, tok = lm
    head = {"mu": [-3.0, -20.0, -2.0, -6.0, 2.0], "sigma": [1.0, 5.0, 1.0, 3.0, 1.0],
            "w": [0.8, 0.1, 0.5, 0.05, -0.3], "b": 0.4}  # fmt: skip
    scorer = LikelihoodScorer(model, tok, meta={"likelihood_head": head})
    problems = ["Tom has 3 apples and buys 4 more.", "What is 12 x 3?"]
    steps = [["So 3 + 4 = 7 apples.", "The answer is 7."], ["12 x 3 = 36", "The answer is 36."]]
    got = scorer.score_batch(problems, steps)  # one padded batch of two solutions
    for p, st, g in zip(problems, steps, got, strict=True):
        assert g == pytest.approx(_reference_scores(model, tok, p, st, head), abs=1e-5)


def test_digit_mask_marks_digit_tokens_only(lm):
    _, tok = lm
    mask = digit_mask(tok)
    for t, i in tok.get_vocab().items():
        assert bool(mask[i]) == t.lstrip("Ġ").isdigit()
    assert all(mask[tok.convert_tokens_to_ids(d)] for d in "0123456789")


def test_head_by_hand():
    head = {"mu": [1.0], "sigma": [2.0], "w": [3.0], "b": -1.5}
    assert apply_head([2.0], head) == pytest.approx(1 / (1 + math.exp(-(3.0 * 0.5 - 1.5))))  # = 0.5
    assert apply_head([-1e4], head) == pytest.approx(0.0, abs=1e-12)  # no overflow far from 0


def test_fit_head_recovers_a_separating_direction():
    # label 1 iff the first feature > 0; the second feature is noise
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 2, generator=g)
    y = (x[:, 0] > 0).double()
    head = fit_head(x.tolist(), y.tolist())
    assert head["w"][0] > 5 * abs(head["w"][1])
    acc = (
        sum((apply_head(r, head) > 0.5) == bool(t) for r, t in zip(x.tolist(), y.tolist(), strict=True)) / 400
    )
    assert acc > 0.97


def test_labelled_steps_by_after_error():
    labels = [1.0, 0.8, 0.2, None, 1.0]
    assert _labelled_steps(labels, "drop") == [(0, 1.0), (1, 0.8), (2, 0.2)]
    assert _labelled_steps(labels, "keep") == [(0, 1.0), (1, 0.8), (2, 0.2), (3, 0.0), (4, 0.0)]
    assert _labelled_steps(labels, "as-is") == [(0, 1.0), (1, 0.8), (2, 0.2), (4, 1.0)]


def test_train_save_load_round_trip(tmp_path, lm):
    from prmkit.evaluate.processbench import predict_first_error, processbench_metrics
    from prmkit.train.config import TrainConfig
    from prmkit.train.trainer import train

    model, tok = lm
    base = tmp_path / "base"
    model.save_pretrained(base)
    tok.save_pretrained(base)
    recs = [Solution(id=f"r{i}", problem="Tom has 3 apples and buys 4 more.",
                     steps=["So 3 + 4 = 7 apples." if i % 2 else "So 3 + 4 = 9 apples.", "The answer is 7."],
                     labels=[1.0, 1.0] if i % 2 else [0.0, None]) for i in range(12)]  # fmt: skip
    res = train(TrainConfig(out=str(tmp_path / "prm"), model=str(base), format="lm-likelihood"),
                train_records=recs, eval_records=recs)  # fmt: skip
    scorer = load_scorer(None, str(tmp_path / "prm"))
    assert isinstance(scorer, LikelihoodScorer)
    scored = list(
        scorer.score_records(
            [Solution(id=r.id, problem=r.problem, steps=r.steps, labels=r.labels) for r in recs]
        )
    )
    m = processbench_metrics([predict_first_error(r.scores) for r in scored], [r.first_error for r in scored])
    assert m["f1"] == pytest.approx(res.metrics["eval_pb_f1"])
    # the two step texts differ only in one digit: a fitted head separates them
    assert m["f1"] == 100.0
