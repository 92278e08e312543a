"""Losses against the hand-checkable examples of docs/methods.md#d-training-losses."""

from __future__ import annotations

import math

import pytest
import torch

from prmkit.render import get_format
from prmkit.train.losses import (
    bce_step_loss,
    implicit_ce_loss,
    implicit_dpo_loss,
    implicit_reward,
    implicit_step_rewards,
    pqm_loss,
    step_logits,
    token_logprobs,
)

IGN = -100.0


def _z(p: float) -> torch.Tensor:
    return torch.tensor([[math.log(p / (1 - p))]])


def test_soft_label_reaches_the_loss_as_a_float():
    p = 0.8
    l03 = bce_step_loss(_z(p), torch.tensor([[0.3]])).item()
    l0 = bce_step_loss(_z(p), torch.tensor([[0.0]])).item()
    l1 = bce_step_loss(_z(p), torch.tensor([[1.0]])).item()
    assert l03 == pytest.approx(-(0.3 * math.log(0.8) + 0.7 * math.log(0.2)), abs=1e-6)  # 1.193
    assert l03 != pytest.approx(l0) and l03 != pytest.approx(l1)
    # rounding (the TRL int cast) would turn 0.3 into 0
    assert bce_step_loss(_z(p), torch.tensor([[0.3]]), hard=True).item() == pytest.approx(l0)


def test_d1_examples():
    assert bce_step_loss(_z(0.5), torch.tensor([[0.375]])).item() == pytest.approx(0.6931, abs=1e-4)
    assert bce_step_loss(_z(0.4), torch.tensor([[0.375]])).item() == pytest.approx(0.6629, abs=1e-4)
    # Math-Shepherd token pair: logits (+, -) = (2, 0) -> p = 0.8808
    fmt = get_format("lm-token-pair")
    logits = torch.tensor([[[0.0, 2.0, 0.0]]])  # vocab: 0=x, 1='+', 2='-'
    assert torch.sigmoid(step_logits(logits, fmt, good_id=1, bad_id=2)).item() == pytest.approx(
        0.8808, abs=1e-4
    )


def test_only_step_positions_count():
    z = torch.tensor([[5.0, 0.0, -3.0, 9.0]])
    lab = torch.tensor([[IGN, 0.375, IGN, IGN]])
    assert bce_step_loss(z, lab).item() == pytest.approx(math.log(2), abs=1e-5)
    lab_all_ign = torch.full((1, 4), IGN)
    assert bce_step_loss(z, lab_all_ign).item() == 0.0


def test_classification_step_logit_equals_softmax():
    logits = torch.randn(2, 5, 2)
    p_soft = torch.softmax(logits, -1)[..., 1]
    p = torch.sigmoid(step_logits(logits, get_format("token-classification")))
    assert torch.allclose(p, p_soft, atol=1e-6)
    lab = torch.tensor([[0.3, IGN, 1.0, IGN, 0.0], [IGN, 0.9, IGN, IGN, IGN]])
    m = lab != IGN
    manual = -(lab[m] * p_soft[m].log() + (1 - lab[m]) * (1 - p_soft[m]).log()).mean()
    assert bce_step_loss(
        step_logits(logits, get_format("token-classification")), lab
    ).item() == pytest.approx(manual.item(), abs=1e-5)


def test_pqm_d2_examples():
    lab = torch.tensor([[1.0, 1.0, 0.0]])
    assert pqm_loss(torch.tensor([[1.0, 2.0, -3.0]]), lab, zeta=2).item() == pytest.approx(0.3870, abs=1e-3)
    assert pqm_loss(torch.tensor([[1.0, 2.0, -1.0]]), lab, zeta=4).item() == pytest.approx(2.2195, abs=1e-3)


def test_pqm_no_wrong_step_omits_virtual_term_and_ignores_padding():
    q = torch.tensor([[1.0, IGN, 2.0]])
    lab = torch.tensor([[1.0, IGN, 1.0]])
    t1 = -math.log(math.e / (math.e + 1 + 1e-5))
    t2 = -math.log(math.e**2 / (math.e**2 + 1 + math.e + 1e-5))
    assert pqm_loss(q, lab, zeta=4).item() == pytest.approx((t1 + t2) / 2, abs=1e-4)
    # batch mean over trajectories; a row without steps is skipped
    q2 = torch.tensor([[1.0, 2.0, -3.0], [0.0, 0.0, 0.0]])
    lab2 = torch.tensor([[1.0, 1.0, 0.0], [IGN, IGN, IGN]])
    assert pqm_loss(q2, lab2, zeta=2).item() == pytest.approx(0.3870, abs=1e-3)


def test_pqm_is_differentiable_and_orders_q():
    q = torch.tensor([[0.0, 0.0, 0.0]], requires_grad=True)
    pqm_loss(q, torch.tensor([[1.0, 1.0, 0.0]]), zeta=4).backward()
    assert q.grad[0, 2] > 0 and q.grad[0, 0] < 0  # push wrong Q down, correct Q up


def test_implicit_d3_examples():
    assert implicit_step_rewards(torch.tensor([0.5, 1.5, -2.0]), [(0, 2), (2, 3)], beta=0.5) == [1.0, -1.0]
    assert implicit_ce_loss(torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(
        0.6931, abs=1e-4
    )
    assert implicit_dpo_loss(torch.tensor([1.0]), torch.tensor([0.0])).item() == pytest.approx(
        0.3133, abs=1e-4
    )
    # sequence reward sums the log-ratio over response tokens only
    lp = torch.tensor([[0.0, -1.0, -2.0, -0.5]])
    ref = torch.tensor([[0.0, -1.5, -1.0, -5.0]])
    mask = torch.tensor([[0, 1, 1, 0]])
    assert implicit_reward(lp, ref, mask, beta=0.5).item() == pytest.approx(0.5 * (0.5 - 1.0))


def test_token_logprobs_shift():
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 2] = 10.0  # position 0 predicts token 2
    lp = token_logprobs(logits, torch.tensor([[1, 2, 3]]))
    assert lp[0, 0] == 0 and lp[0, 1] > -1e-3 and lp[0, 2] == pytest.approx(math.log(0.25))


def test_global_normaliser_weighs_every_step_the_same():
    z = torch.tensor([[0.0, 0.0, 0.0]])
    lab = torch.tensor([[1.0, 0.0, IGN]])
    mean = bce_step_loss(z, lab).item()
    assert bce_step_loss(z, lab, denom=4.0).item() == pytest.approx(2 * mean / 4.0)
