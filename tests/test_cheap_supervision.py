"""FreePRM (outcome-only training with a buffer class) and ActPRM (uncertainty selection): the
loss by hand, the config rules, selection picks the most uncertain, only selected solutions reach
the labeller and what it spent is counted, and an outcome-only train -> load round trip."""

from __future__ import annotations

import math

import pytest
import torch

from prmkit.errors import PrmkitError
from prmkit.label.select import Uncertainty, select_uncertain, solution_uncertainty
from prmkit.records import Solution
from prmkit.scorers.likelihood import apply_head
from prmkit.train.active import active_label
from prmkit.train.config import TrainConfig
from prmkit.train.likelihood import fit_head_freeprm, outcome_pseudo_labels
from prmkit.train.losses import freeprm_loss

# ---------------------------------------------------------------- D5: FreePRM buffer loss


def test_d5_freeprm_examples():
    # logits (ln 2, 0, 0) -> softmax (right, wrong, buffer) = (2/4, 1/4, 1/4)
    z = torch.tensor([[math.log(2.0), 0.0, 0.0]])
    one = lambda y, a: freeprm_loss(z, torch.tensor([y]), torch.tensor([a])).item()  # noqa: E731
    assert one(1.0, 1.0) == pytest.approx(-math.log(0.5 + 0.25))  # 0.2877
    assert one(0.0, 1.0) == pytest.approx(-math.log(0.25 + 0.25))  # 0.6931
    assert one(1.0, 0.5) == pytest.approx(-math.log(0.5 + 0.125))  # 0.4700
    assert one(0.0, 0.0) == pytest.approx(-math.log(0.25))  # 1.3863: the buffer does not count
    # mean over steps; no factor = weight 1
    z3 = z.repeat(3, 1)
    got = freeprm_loss(z3, torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 0.5])).item()
    assert got == pytest.approx((0.2877 + 0.6931 + 0.4700) / 3, abs=1e-4)
    assert freeprm_loss(z3, torch.tensor([1.0, 0.0, 1.0])).item() == pytest.approx(
        (0.2877 + 0.6931 + 0.2877) / 3, abs=1e-4
    )


def test_buffer_with_full_weight_absorbs_everything():
    # all mass on the buffer: weight 1 satisfies any pseudo label (the collapse the random factor prevents)
    z = torch.tensor([[0.0, 0.0, 30.0], [0.0, 0.0, 30.0]])
    y = torch.tensor([1.0, 0.0])
    assert freeprm_loss(z, y).item() == pytest.approx(0.0, abs=1e-9)
    assert freeprm_loss(z, y, torch.tensor([0.5, 0.5])).item() == pytest.approx(math.log(2), abs=1e-9)


def test_fit_head_freeprm_orders_steps_and_keeps_the_scorer_format():
    # feature 1 = right in correct solutions, feature -1 = wrong; a noisy block at 0 with both labels
    x = [[1.0]] * 20 + [[-1.0]] * 20 + [[0.0]] * 20
    y = [1.0] * 20 + [0.0] * 20 + [1.0, 0.0] * 10
    head = fit_head_freeprm(x, y, seed=3)
    assert set(head) >= {"mu", "sigma", "w", "b", "buffer"}
    assert apply_head([-1.0], head) < 0.5 < apply_head([1.0], head)
    # a fixed factor and a seeded random one are reproducible
    assert fit_head_freeprm(x, y, seed=3) == head
    assert fit_head_freeprm(x, y, buffer_factor=None, seed=3) == fit_head_freeprm(
        x, y, buffer_factor=None, seed=3
    )
    assert fit_head_freeprm(x, y, buffer_factor=None, seed=3)["w"] != head["w"]  # the default is beta 0.5


def test_outcome_pseudo_labels():
    ok = Solution(id="a", problem="p", steps=["x", "y", "z"], answer="7", reference_answer="7")
    bad = Solution(id="b", problem="p", steps=["x", "y"], answer="8", reference_answer="7")
    assert outcome_pseudo_labels(ok) == [1.0, 1.0, 1.0]
    assert outcome_pseudo_labels(bad) == [0.0, 0.0]
    with pytest.raises(PrmkitError, match="reference answer"):
        outcome_pseudo_labels(Solution(id="c", problem="p", steps=["x"], answer="7"))


def test_config_outcome_losses():
    cfg = TrainConfig(format="lm-likelihood", loss="freeprm")
    assert cfg.after_error == "as-is"  # every step trains: pseudo labels are all 0 in a wrong solution
    assert TrainConfig(format="lm-likelihood", loss="outcome-bce").after_error == "as-is"
    with pytest.raises(PrmkitError, match="lm-likelihood"):
        TrainConfig(loss="freeprm")  # token-classification: not yet
    with pytest.raises(PrmkitError, match="freeprm_buffer_factor"):
        TrainConfig(format="lm-likelihood", loss="freeprm", freeprm_buffer_factor=1.5)


# ---------------------------------------------------------------- C6: ActPRM selection


def test_c6_uncertainty_by_hand():
    # two members on one step: mean 0.7, std sqrt((0.1^2 + 0.1^2) / 1) = 0.1414
    (u,) = solution_uncertainty([[[0.8], [0.6]]])
    assert not u.confident
    assert u.score == pytest.approx(0.5 - 0.2 + math.sqrt(0.02))
    # steps after the first mean < 0.5 do not count (0.5 at step 1 would score 0.5)
    (u,) = solution_uncertainty([[[0.2, 0.5]]])
    assert u.score == pytest.approx(0.3 - 0.0 + 0.0 - 0.1)  # 0.5 - |0.2 - 0.5| = 0.2
    assert u.confident is False  # 0.2 is neither >= 0.9 nor <= 0.1
    # confident: unanimous and beyond the thresholds on every considered step
    (u,) = solution_uncertainty([[[0.95, 0.05, 0.5], [0.95, 0.05, 0.5]]])
    assert u.confident


def test_selection_picks_the_most_uncertain_and_never_a_confident_one():
    us = solution_uncertainty([[[0.99]], [[0.7]], [[0.55]], [[0.02]], [[0.8]]])
    assert select_uncertain(us) == [2, 1, 4]
    assert select_uncertain(us, budget=2) == [2, 1]
    assert select_uncertain([Uncertainty(True, 0.9)], budget=5) == []


def test_active_label_sends_only_the_selected_and_counts_the_cost():
    def rec(i, x):
        return Solution(id=f"s{i}", problem="p", steps=["a"], meta={"x": x})

    # warm-up batch: clearly right (x=3) and clearly wrong (x=-3) steps
    pool = [rec(i, 3.0 if i % 2 else -3.0) for i in range(6)]
    # second batch: confident right, confident wrong, and the uncertain middle (x=0.1)
    pool += [rec(6, 3.0), rec(7, -3.0), rec(8, 0.1), rec(9, 3.0), rec(10, -3.0), rec(11, 2.9)]
    feats = [[[r.meta["x"]]] for r in pool]
    sent: list[list[str]] = []

    def labeller(recs):
        sent.append([r.id for r in recs])
        out = [Solution(id=r.id, problem=r.problem, steps=r.steps, labels=[1.0 if r.meta["x"] > 0 else 0.0])
               for r in recs]  # fmt: skip
        return out, {"rollouts": 5 * len(recs)}

    res = active_label(pool, feats, labeller, batch_size=6, fraction=0.5, k=4, seed=0)
    assert sent[0] == [f"s{i}" for i in range(6)]  # warm-up: the whole batch
    assert sent[1] == ["s8"]  # only the uncertain one, though the budget allowed 3
    assert res.cost == {"solutions": 7, "steps": 7, "rollouts": 35}
    assert [r.id for r in res.labelled] == [f"s{i}" for i in range(6)] + ["s8"]


# ---------------------------------------------------------------- end to end


def test_train_freeprm_without_step_labels_round_trip(tmp_path):
    from prmkit.models.tiny import build_tiny_model, train_tokenizer
    from prmkit.scorers import load_scorer
    from prmkit.train.trainer import train

    texts = [
        "Tom has 3 apples and buys 4 more.",
        "So 3 + 4 = 7 apples.",
        "So 3 + 4 = 9 apples.",
        "The answer is 7.",
    ]
    tok = train_tokenizer(texts * 5, vocab_size=300)
    torch.manual_seed(0)
    model = build_tiny_model("causal-lm", tok, hidden_size=32, num_layers=1, num_heads=2).eval()
    base = tmp_path / "base"
    model.save_pretrained(base)
    tok.save_pretrained(base)
    # step labels are absent: only the final answers say which solutions are right
    recs = [Solution(id=f"r{i}", problem=texts[0], steps=[texts[1] if i % 2 else texts[2], "The answer is 7."],
                     answer="7" if i % 2 else "9", reference_answer="7") for i in range(12)]  # fmt: skip
    train(TrainConfig(out=str(tmp_path / "prm"), model=str(base), format="lm-likelihood", loss="freeprm"),
          train_records=recs, eval_records=[])  # fmt: skip
    scorer = load_scorer(None, str(tmp_path / "prm"))
    scored = list(scorer.score_records(recs))
    right, wrong = scored[1].scores, scored[0].scores
    assert right[0] > wrong[0]  # the wrong step scores lower than the right one


def test_freeprm_last_step_gets_no_buffer():
    # one step, pseudo label 0, features fixed; with last=True the buffer cannot take the loss, so
    # the fitted head must put the step below 0.5 more firmly than with the buffer allowed
    x = [[0.0], [1.0], [0.0], [1.0]]
    y = [0.0, 1.0, 0.0, 1.0]
    with_last = fit_head_freeprm(x, y, buffer_factor=1.0, last=[True] * 4)
    no_last = fit_head_freeprm(x, y, buffer_factor=1.0)
    # buffer weight 1 everywhere: the all-buffer collapse leaves right vs wrong unfitted (w stays ~0)
    assert abs(no_last["w"][0]) < 0.05
    # no buffer on any step (all last): plain logistic fit separates the two points
    assert with_last["w"][0] > 1.0
    with pytest.raises(Exception, match="flags"):
        fit_head_freeprm(x, y, last=[True])
