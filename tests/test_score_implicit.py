"""Implicit PRM (docs/methods.md#d3-implicit-prm): hand-checkable example and parity with plain forwards."""

from __future__ import annotations

import json
import math

import pytest
import torch

from prmkit.models.tiny import build_tiny_model, train_tokenizer
from prmkit.render import render
from prmkit.scorers import load_scorer
from prmkit.scorers.implicit import ImplicitPRMScorer, reward_spans, step_rewards

PROBLEMS = ["What is 6 * 7?", "Tom has 3 apples and buys 4 more."]
STEPS = [["6 * 7 = 42", "The answer is 42."], ["3 + 4 = 7", "", "So 7 apples.\n\nDone."]]


def test_d3_hand_example():
    # beta=0.5, step 1 token log-ratios [0.5, 1.5], step 2 [-2.0]: r1=1.0, r2=-1.0, q1=1.0, q2=0.0
    assert step_rewards([0.5, 1.5, -2.0], [(0, 2), (2, 3)], 0.5) == [1.0, -1.0]
    assert step_rewards([0.5, 1.5, -2.0], [(0, 2), (2, 3)], 0.5, reduce="cumulative") == [1.0, 0.0]
    assert step_rewards([0.5, 1.5, -2.0], [(0, 2), None], 0.5, reduce="cumulative") == [1.0, None]


@pytest.fixture(scope="module")
def setup():
    tok = train_tokenizer(
        [p + " " + " ".join(s) for p, s in zip(PROBLEMS, STEPS, strict=True)] * 3, vocab_size=300
    )
    pi = build_tiny_model("causal-lm", tok, hidden_size=32, num_layers=1, num_heads=2, seed=1).eval()
    ref = build_tiny_model("causal-lm", tok, hidden_size=32, num_layers=1, num_heads=2, seed=2).eval()
    return tok, pi, ref


def _plain_rewards(tok, pi, ref, beta):
    out = []
    for p, st in zip(PROBLEMS, STEPS, strict=True):
        r = render(p, st, "implicit", tok)
        ids = torch.tensor([r.input_ids])
        with torch.no_grad():
            lp = pi(input_ids=ids).logits[0].log_softmax(-1)
            lr = ref(input_ids=ids).logits[0].log_softmax(-1)
        ratio = [0.0] + [
            float(lp[j - 1, r.input_ids[j]] - lr[j - 1, r.input_ids[j]]) for j in range(1, len(r))
        ]
        out.append((r, [beta * sum(ratio[s:e]) for s, e in reward_spans(r)], ratio))
    return out


@pytest.mark.parametrize("side", ["right", "left"])
def test_parity_with_plain_forward(setup, side):
    tok, pi, ref = setup
    beta = 0.7
    s = ImplicitPRMScorer(
        pi, ref, tok, beta=beta, output="raw", padding_side=side, batch_tokens=10**5, max_pad_fraction=1.0
    )
    got = s.score_batch(PROBLEMS, STEPS)
    assert s.forward_calls == 1
    plain = _plain_rewards(tok, pi, ref, beta)
    for g, (r, want, ratio) in zip(got, plain, strict=True):
        assert g == pytest.approx(want, abs=1e-5)
        # the step rewards add up to the sequence reward of the response
        first = r.step_spans[0][0]
        assert sum(g) == pytest.approx(beta * sum(ratio[first : r.step_positions[-1] + 1]), abs=1e-5)
    sig = ImplicitPRMScorer(pi, ref, tok, beta=beta).score_batch(PROBLEMS, STEPS)
    for g, sg in zip(got, sig, strict=True):
        assert sg == pytest.approx([1 / (1 + math.exp(-x)) for x in g], abs=1e-6)


def test_same_model_gives_zero_reward(setup):
    tok, pi, _ = setup
    out = ImplicitPRMScorer(pi, pi, tok, reduce="cumulative").score_batch(PROBLEMS, STEPS)
    assert all(v == pytest.approx(0.5, abs=1e-6) for sol in out for v in sol)


def test_load_with_prmkit_json_ref(setup, tmp_path):
    tok, pi, ref = setup
    pi.save_pretrained(tmp_path / "policy")
    tok.save_pretrained(tmp_path / "policy")
    ref.save_pretrained(tmp_path / "policy" / "ref")
    (tmp_path / "policy" / "prmkit.json").write_text(
        json.dumps({"format": "implicit", "ref_model": "ref", "beta": 0.7})
    )
    s = load_scorer(None, str(tmp_path / "policy"), output="raw")
    assert isinstance(s, ImplicitPRMScorer) and s.beta == 0.7
    want = [w for _, w, _ in _plain_rewards(tok, pi, ref, 0.7)]
    for g, w in zip(s.score_batch(PROBLEMS, STEPS), want, strict=True):
        assert g == pytest.approx(w, abs=1e-5)


def test_missing_ref_is_a_clear_error(setup, tmp_path):
    from prmkit.errors import PrmkitError

    tok, pi, _ = setup
    pi.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(PrmkitError, match="reference model"):
        load_scorer("implicit", str(tmp_path))
