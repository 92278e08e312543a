"""prmkit.rl.credit against the hand-computed examples of docs/methods.md#f-rl-credit-assignment and D3."""

import numpy as np
import pytest
import torch

from prmkit.errors import PrmkitError
from prmkit.rl import credit as C

TOL = 1e-3


def test_f1_soft_min_matches_methods_example():
    r = [[0.8, -0.2, 0.6]]
    np.testing.assert_allclose(C.soft_min_weights(r, 0.1)[0], [4.54e-5, 0.99962, 3.35e-4], atol=1e-5)
    np.testing.assert_allclose(C.soft_min_rewards(r, 0.1)[0], [3.6e-5, -0.19992, 2.01e-4], atol=1e-5)
    np.testing.assert_allclose(C.soft_min_returns(r, 0.1)[0], [-0.19969, -0.19972, 0.00020], atol=1e-5)


def test_f1_exact_min_differs_from_soft_min_after_argmin():
    r = [[0.8, -0.2, 0.6]]
    exact = C.min_form_returns(r)[0]
    np.testing.assert_allclose(exact, [-0.2, -0.2, 0.6])
    soft = C.soft_min_returns(r, 0.1)[0]
    assert abs(exact[2] - soft[2]) > 0.5  # after the global argmin the two forms disagree
    np.testing.assert_allclose(soft[:2], exact[:2], atol=1e-3)
    # exact-min token rewards telescope back to the exact returns
    d = C.credit_step_rewards(r, "exact-min")
    np.testing.assert_allclose(np.cumsum(d[0][::-1])[::-1], exact)


def test_sum_form_discounting_and_ragged_padding():
    g = C.sum_form_returns([[1.0, -1.0, 1.0], [2.0]], gamma=0.5)
    np.testing.assert_allclose(g, [[1.0 - 0.5 + 0.25, -1.0 + 0.5, 1.0], [2.0, 0.0, 0.0]])
    # an explicit mask gives the same as the ragged input
    g2 = C.sum_form_returns(
        [[1.0, -1.0, 1.0], [2.0, 99.0, 99.0]], gamma=0.5, step_mask=[[1, 1, 1], [1, 0, 0]]
    )
    np.testing.assert_allclose(g, g2)
    m = C.min_form_returns([[0.5, 0.1], [0.3, 7.0]], step_mask=[[1, 1], [1, 0]])
    np.testing.assert_allclose(m, [[0.1, 0.1], [0.3, 0.0]])


def test_soft_min_tends_to_min_as_temperature_drops():
    r = np.array([[0.9, 0.4, 0.7, 0.5]])
    for t, tol in ((0.1, 0.2), (0.01, 1e-3)):
        assert abs(C.soft_min_rewards(r, t).sum() - r.min()) < tol
    w = C.soft_min_weights([[0.3, 0.3, 1.0, 0.0]], 0.1, step_mask=[[1, 1, 0, 0]])
    np.testing.assert_allclose(w, [[0.5, 0.5, 0.0, 0.0]])


def test_torch_inputs_return_torch_same_dtype_and_match_numpy():
    r = torch.tensor([[0.8, -0.2, 0.6], [0.1, 0.2, 0.3]], dtype=torch.float32)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    for fn in (C.soft_min_returns, C.min_form_returns, C.sum_form_returns):
        out = fn(r, step_mask=mask)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
        np.testing.assert_allclose(out.numpy(), fn(r.numpy(), step_mask=mask.numpy()), atol=1e-6)
    adv = C.pure_advantages(r, torch.tensor([[0, 2, 3], [1, 2, 0]]), torch.ones(2, 5), 2, step_mask=mask)
    assert isinstance(adv, torch.Tensor) and adv.shape == (2, 5)


def test_steps_to_tokens_and_token_returns():
    mask = [[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]]
    tok = C.steps_to_tokens([[1.0, -1.0], [0.5, 0.0]], [[1, 3], [2, -1]], mask, step_mask=[[1, 1], [1, 0]])
    np.testing.assert_allclose(tok, [[0, 1, 0, -1, 0, 0], [0, 0, 0.5, 0, 0, 0]])
    g = C.token_returns(tok, mask)
    np.testing.assert_allclose(g, [[0, 0, -1, -1, 0, 0], [0.5, 0.5, 0.5, 0, 0, 0]])
    spread = C.steps_to_tokens([[1.0, -1.0]], [[1, 3]], [[1, 1, 1, 1, 1, 0]], spread=True)
    np.testing.assert_allclose(spread, [[1, 1, -1, -1, 0, 0]])
    with pytest.raises(PrmkitError, match="outside the response"):
        C.steps_to_tokens([[1.0]], [[9]], [[1, 1]])
    with pytest.raises(PrmkitError, match="non-decreasing"):
        C.steps_to_tokens([[1.0, 1.0]], [[1, 0]], [[1, 1]])


def test_f2_prime_outcome_and_dense_parts():
    o = [1, 0, 0, 1]
    np.testing.assert_allclose(C.rloo_baseline(o, 4), [1 / 3, 2 / 3, 2 / 3, 1 / 3])
    plain = dict(batch_norm=False, whiten=False)
    # outcome-only: zero dense rewards -> the outcome advantages of docs/methods.md#f2-prime (both RLOO forms)
    for form in ("prime", "others"):
        adv = C.prime_advantages(np.zeros((4, 2)), np.ones((4, 2)), o, 4, rloo=form, **plain)
        np.testing.assert_allclose(adv[:, 0], [0.667, -0.667, -0.667, 0.667], atol=TOL)
    # dense-only: response means [0.2, -0.1, 0.0, 0.3]; "others" form: response 1 returns [0.2667, 0.2333]
    tr = [[0.1, 0.3], [-0.1, -0.1], [0.0, 0.0], [0.3, 0.3]]
    dense = C.prime_advantages(tr, np.ones((4, 2)), [0, 0, 0, 0], 4, rloo="others", **plain)
    np.testing.assert_allclose(dense[0], [0.2667, 0.2333], atol=TOL)
    # PRIME's form: r * 4/3 - (0.2 - 0.1 + 0 + 0.3) / 3 -> tokens [0, 0.2667] -> returns [0.2667, 0.2667]
    pf = C.prime_advantages(tr, np.ones((4, 2)), [0, 0, 0, 0], 4, **plain)
    np.testing.assert_allclose(pf[0], [0.8 / 3, 0.8 / 3], atol=1e-9)
    full = C.prime_advantages(tr, np.ones((4, 2)), o, 4, rm_coef=5.0, rloo="others", **plain)
    np.testing.assert_allclose(full[0], 5 * np.array([0.2667, 0.2333]) + 0.6667, atol=5e-3)
    # batch norm: the largest |reverse cumulative sum| in the batch is 0.6 (response 4, token 1)
    bn = C.prime_advantages(tr, np.ones((4, 2)), [0, 0, 0, 0], 4, whiten=False)
    np.testing.assert_allclose(bn[0], [0.8 / 3 / (0.6 + 1e-6)] * 2, atol=1e-9)
    # whitening: mean 0 and unit (Bessel) variance over the response tokens
    w = C.prime_advantages(tr, [[1, 1], [1, 1], [1, 0], [1, 1]], o, 4)
    vals = w[np.array([[1, 1], [1, 1], [1, 0], [1, 1]], dtype=bool)]
    assert abs(vals.mean()) < 1e-9 and abs(vals.std(ddof=1) - 1) < 1e-6 and w[2, 1] == 0


def test_d3_implicit_rewards():
    lr = C.implicit_process_rewards([[-1.0, -1.0, -3.0]], [[-1.5, -2.5, -1.0]], [[1, 1, 1]], beta=1.0)
    np.testing.assert_allclose(lr, [[0.5, 1.5, -2.0]])
    r, q = C.implicit_step_rewards(lr, [[1, 2]], [[1, 1, 1]], beta=0.5)
    np.testing.assert_allclose(r, [[1.0, -1.0]])
    np.testing.assert_allclose(q, [[1.0, 0.0]])


def test_f3_td_targets_and_loss():
    v = [[0.5, 0.9]] * 3
    t = C.td_targets(v, rewards=[[0.0, 0], [0.2, 0], [0.5, 0]], gamma=0.8)
    np.testing.assert_allclose(t[:, 0], [0.72, 0.92, 1.0], atol=TOL)
    assert abs(C.td_loss([[0.72]], [[0.72]]) - 0.5930) < TOL
    # 2-step target: r1 + g r2 + g^2 V(s_{t+2}); the bootstrap is dropped past the end
    t2 = C.td_targets([[0.1, 0.2, 0.5]], rewards=[[0.1, 0.1, 0.0]], gamma=0.8, n_step=2)
    np.testing.assert_allclose(t2[0], [0.1 + 0.08 + 0.64 * 0.5, 0.1, 0.0], atol=1e-9)
    t3 = C.td_targets([[0.4, 0.9, 0.3]], outcome=[1.0])
    assert t3[0, 2] == 1.0  # terminal step: outcome label
    # TD targets are smoother than a spiky value sequence
    spiky = [[0.9, 0.1, 0.9, 0.1, 0.9]]
    assert C.td_smoothness(C.td_targets(spiky)) < C.td_smoothness(spiky)


def test_group_normalize_and_hybrid():
    a = C.group_normalize([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0], 4)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(a[:4], ((t - t.mean()) / (t.std() + 1e-4)).numpy(), atol=1e-6)
    np.testing.assert_allclose(a[4:], 0.0)  # identical rewards: no signal
    h = C.hybrid_advantages([1, 1, 0, 0], [1.0, 0.0, 1.0, 0.0], 4, outcome_weight=1.0, process_weight=0.0)
    np.testing.assert_allclose(h, C.group_normalize([1, 1, 0, 0], 4))
    hm = C.hybrid_advantages([1, 0], [0.5, 0.5], 2, response_mask=[[1, 1, 0], [1, 0, 0]])
    assert hm.shape == (2, 3) and hm[0, 2] == 0 and hm[0, 0] > 0 > hm[1, 0]
    with pytest.raises(PrmkitError, match="groups of 4"):
        C.group_normalize([1.0, 2.0, 3.0], 4)


def test_pure_advantages_token_baseline_by_hand():
    # two responses of one prompt; credit "sum" so the arithmetic stays readable
    r = [[1.0, -1.0], [1.0]]
    ends = [[1, 3], [2]]
    mask = [[1, 1, 1, 1], [1, 1, 1, 0]]
    raw = dict(mask_step_ends=False, whiten=False)
    a = C.pure_advantages(r, ends, mask, 2, credit="sum", baseline="token", **raw)
    # response 0: other total reward 1 over 3 tokens -> 1/3 per token; each step has 1 token
    # besides its end token (PURE counts without it): 1 - 1/3 = 2/3 and -1 - 1/3 = -4/3
    np.testing.assert_allclose(a[0], [2 / 3 - 4 / 3] * 2 + [-4 / 3] * 2, atol=1e-9)
    # response 1: other total 0 over 4 tokens -> no baseline
    np.testing.assert_allclose(a[1], [1.0, 1.0, 1.0, 0.0])
    # PURE defaults: step-end tokens (1, 3 and 2) get 0, then the batch is whitened over the
    # 4 non-zero tokens: values -2/3, -4/3, 1, 1 -> mean 0, var (4/9 + 16/9 + 1 + 1) / 4
    d = C.pure_advantages(r, ends, mask, 2, credit="sum", baseline="token")
    sd = np.sqrt((4 / 9 + 16 / 9 + 2) / 4)
    np.testing.assert_allclose(d, [[-2 / 3 / sd, 0, -4 / 3 / sd, 0], [1 / sd, 1 / sd, 0, 0]], atol=1e-9)
    st = C.pure_advantages(r, ends, mask, 2, credit="sum", baseline="step", **raw)
    np.testing.assert_allclose(st[1][:3], 1.0 - 0.0)  # other response's mean step reward is 0
    ex = C.pure_advantages(r, ends, mask, 2, credit="exact-min", outcome=[0.0, 1.0], **raw)
    # exact min returns: row0 [-1, -1], row1 [1]; LOO baselines -> row0 -1-1=-2, row1 1-(-1)=2; outcome +-1
    np.testing.assert_allclose(ex, [[-3, -3, -3, -3], [3, 3, 3, 0]])
    exm = C.pure_advantages(r, ends, mask, 2, credit="exact-min", outcome=[0.0, 1.0], whiten=False)
    np.testing.assert_allclose(exm, [[-3, 0, -3, 0], [3, 3, 0, 0]])
    soft = C.pure_advantages(r, ends, mask, 2, credit="soft-min", baseline="none", **raw)
    assert soft[0, 0] < -0.99 and abs(soft[0, 0] - soft[0, 3]) < 1e-3  # the bad step dominates
    with pytest.raises(PrmkitError, match="credit"):
        C.pure_advantages(r, ends, mask, 2, credit="max")


def test_errors_name_the_field():
    with pytest.raises(PrmkitError, match="None"):
        C.sum_form_returns([[1.0, None], [1.0]])
    with pytest.raises(PrmkitError, match="temperature"):
        C.soft_min_weights([[1.0]], 0.0)
    with pytest.raises(PrmkitError, match="step_mask"):
        C.min_form_returns([[1.0, 2.0]], step_mask=[[1, 1, 1]])
