"""Credit assignment with process rewards: step rewards -> token rewards, returns, advantages.

Pure, batched functions (docs/methods.md#f-rl-credit-assignment, docs/methods.md#d3-implicit-prm). Every function accepts numpy arrays, torch
tensors or (for step-level inputs) ragged Python lists, and returns the same kind it was given:
a torch input gives a torch tensor on the input's device (float inputs keep their dtype;
computed without autograd: rewards and advantages are constants for the policy loss), anything
else gives ``numpy.float64`` arrays.

Shapes and conventions:

- ``step_rewards``: ``[B, S]`` padded (with ``step_mask`` ``[B, S]``, True = real step) or a
  ragged ``list[list[float]]`` (the mask is then derived). Ragged step counts are the norm.
- ``step_ends``: ``[B, S]`` int, index (within the response) of the **last token of step t**;
  padding entries are ignored (``step_mask`` False, or ``-1``). Must be non-decreasing and
  inside the response.
- ``response_mask``: ``[B, L]`` (True/1 = a response token). Outputs are 0 on padding.
- Groups (GRPO / RLOO): the batch is ``B = n_prompts * K`` with the ``K`` responses of one
  prompt **contiguous** (rows ``g*K .. g*K+K-1``), the layout verl, OpenRLHF and TRL use.

Credit rules (see docs/rl.md for when to use which):

- sum-form: ``G_t = sum_{t'>=t} gamma^(t'-t) r_t'`` (:func:`sum_form_returns`);
- PURE min-form, exact: ``G_t = min_{t'>=t} r_t'`` (:func:`min_form_returns`);
- PURE min-form as implemented in the PURE code (soft-min transform, temperature ``T``):
  ``w = softmax(-r / T)``, ``r~ = w * r``, ``G_t = sum_{t'>=t} r~_t'`` (:func:`soft_min_returns`);
  it puts ~all the mass on the worst step, so it differs from the exact form after the argmin;
- PURE advantages with the RLOO token/step baseline and the verifiable reward (:func:`pure_advantages`);
- PRIME implicit process rewards + RLOO + outcome (:func:`implicit_process_rewards`,
  :func:`prime_advantages`);
- hybrid: verifiable outcome + weighted aggregated process score, GRPO group normalisation
  (:func:`hybrid_advantages`);
- TDRM temporal-difference targets / smoothing of step values (:func:`td_targets`).

Example (docs/methods.md#f1-pure-min-form-credit):
    >>> r = [[0.8, -0.2, 0.6]]
    >>> min_form_returns(r).round(3).tolist()
    [[-0.2, -0.2, 0.6]]
    >>> soft_min_returns(r, temperature=0.1).round(5).tolist()
    [[-0.19969, -0.19972, 0.0002]]
    >>> sum_form_returns(r).round(3).tolist()
    [[1.2, 0.4, 0.6]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from prmkit.errors import PrmkitError

__all__ = [
    "credit_step_rewards",
    "group_normalize",
    "hybrid_advantages",
    "implicit_process_rewards",
    "implicit_step_rewards",
    "min_form_returns",
    "pad_steps",
    "prime_advantages",
    "pure_advantages",
    "rloo_baseline",
    "soft_min_returns",
    "soft_min_rewards",
    "soft_min_weights",
    "steps_to_tokens",
    "sum_form_returns",
    "td_loss",
    "td_smoothness",
    "td_targets",
    "token_returns",
]

Array = Any  # numpy.ndarray | torch.Tensor | nested lists


# ---------------------------------------------------------------- backend helpers


def _is_torch(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def _restorer(*inputs: Any) -> Callable[[np.ndarray], Any]:
    """A function turning a numpy result back into the kind of the first torch input (if any)."""
    for x in inputs:
        if _is_torch(x):
            dtype = x.dtype if x.is_floating_point() else torch.float32
            device = x.device

            def back(a: np.ndarray, _dtype: Any = dtype, _device: Any = device) -> Any:
                return torch.as_tensor(np.asarray(a), dtype=_dtype if a.dtype.kind == "f" else None).to(
                    _device
                )

            return back
    return lambda a: a


def _np(x: Any, dtype: Any = np.float64) -> np.ndarray:
    if _is_torch(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def pad_steps(rows: Sequence[Sequence[float]], pad: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Ragged rows -> (padded ``[B, S]`` float array, ``[B, S]`` bool mask).

    Example:
        >>> v, m = pad_steps([[1.0, 2.0], [3.0]])
        >>> v.tolist(), m.tolist()
        ([[1.0, 2.0], [3.0, 0.0]], [[True, True], [True, False]])
    """
    b = len(rows)
    s = max((len(r) for r in rows), default=0)
    vals = np.full((b, s), pad, dtype=np.float64)
    mask = np.zeros((b, s), dtype=bool)
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            if v is None:
                raise PrmkitError(
                    f"step value is None (row {i}, step {j}); map unscored steps first", field="step_rewards"
                )
            vals[i, j] = float(v)
        mask[i, : len(r)] = True
    return vals, mask


def _is_ragged_list(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and (not x or isinstance(x[0], (list, tuple)))


def _steps(step_rewards: Array, step_mask: Array | None) -> tuple[np.ndarray, np.ndarray]:
    """Normalise step-level input to (values [B,S] float64, mask [B,S] bool)."""
    if _is_ragged_list(step_rewards) and step_mask is None:
        lens = {len(r) for r in step_rewards}
        if len(lens) > 1:
            return pad_steps(step_rewards)
    v = _np(step_rewards)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2:
        raise PrmkitError(f"step rewards must be [B, S], got shape {v.shape}", field="step_rewards")
    if step_mask is None:
        m = np.ones(v.shape, dtype=bool)
    else:
        m = _np(step_mask, dtype=bool)
        if m.ndim == 1:
            m = m[None, :]
        if m.shape != v.shape:
            raise PrmkitError(f"step_mask shape {m.shape} != step rewards shape {v.shape}", field="step_mask")
    if np.isnan(v[m]).any():
        raise PrmkitError("step rewards contain NaN at real steps", field="step_rewards")
    return np.where(m, v, 0.0), m


def _ends(step_ends: Array, mask: np.ndarray) -> np.ndarray:
    if _is_ragged_list(step_ends):
        e = np.full(mask.shape, -1, dtype=np.int64)
        for i, r in enumerate(step_ends):
            e[i, : len(r)] = r
    else:
        e = _np(step_ends, dtype=np.int64)
        if e.ndim == 1:
            e = e[None, :]
    if e.shape != mask.shape:
        raise PrmkitError(f"step_ends shape {e.shape} != step rewards shape {mask.shape}", field="step_ends")
    return e


def _resp_mask(response_mask: Array) -> np.ndarray:
    m = _np(response_mask, dtype=bool)
    if m.ndim == 1:
        m = m[None, :]
    return m


def _check_ends(e: np.ndarray, m: np.ndarray, length: int) -> None:
    for i in range(e.shape[0]):
        row = e[i][m[i]]
        if row.size and (row.min() < 0 or row.max() >= length):
            raise PrmkitError(
                f"row {i}: step end {row.min() if row.min() < 0 else row.max()} outside the "
                f"response (length {length})",
                field="step_ends",
            )
        if row.size > 1 and (np.diff(row) < 0).any():
            raise PrmkitError(
                f"row {i}: step ends must be non-decreasing, got {row.tolist()}", field="step_ends"
            )


def _reverse_sum(x: np.ndarray, mask: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted reverse cumulative sum along axis 1 over the True entries of ``mask``
    (``G_i = x_i + gamma * G_next``, masked entries skipped and set to 0)."""
    g = np.zeros_like(x)
    run = np.zeros(x.shape[0])
    for i in range(x.shape[1] - 1, -1, -1):
        run = np.where(mask[:, i], x[:, i] + gamma * run, run)
        g[:, i] = np.where(mask[:, i], run, 0.0)
    return g


def _tokens(token_values: Array, response_mask: Array) -> tuple[np.ndarray, np.ndarray]:
    """Token-level input -> (values ``[B, L]`` float64, 0 on padding; mask ``[B, L]`` bool)."""
    r = _np(token_values)
    if r.ndim == 1:
        r = r[None, :]
    rm = _resp_mask(response_mask)
    if rm.shape != r.shape:
        raise PrmkitError(
            f"response_mask shape {rm.shape} != token values shape {r.shape}", field="response_mask"
        )
    return np.where(rm, r, 0.0), rm


def _last_token(rm: np.ndarray) -> np.ndarray:
    """``[B, L]`` bool, True on the last response token of each row (none for an empty row)."""
    out = np.zeros_like(rm)
    has = rm.any(axis=1)
    last = rm.shape[1] - 1 - np.argmax(rm[:, ::-1], axis=1)
    out[np.arange(rm.shape[0])[has], last[has]] = True
    return out


def _group_view(x: np.ndarray, group_size: int) -> np.ndarray:
    if group_size < 1 or x.shape[0] % group_size:
        raise PrmkitError(
            f"batch of {x.shape[0]} is not a whole number of groups of {group_size}", field="group_size"
        )
    return x.reshape(x.shape[0] // group_size, group_size, *x.shape[1:])


# ---------------------------------------------------------------- step-level returns


def sum_form_returns(step_rewards: Array, gamma: float = 1.0, step_mask: Array | None = None) -> Array:
    """Sum-form (discounted) return over steps: ``G_t = r_t + gamma * G_{t+1}``; 0 on padding.

    Example:
        >>> sum_form_returns([[1.0, 0.0, 1.0], [1.0]], gamma=0.5).tolist()
        [[1.25, 0.5, 1.0], [1.0, 0.0, 0.0]]
    """
    back = _restorer(step_rewards)
    r, m = _steps(step_rewards, step_mask)
    return back(_reverse_sum(r, m, gamma))


def min_form_returns(step_rewards: Array, step_mask: Array | None = None) -> Array:
    """Exact PURE min-form value ``G_t = min_{t'>=t} r_t'`` (reverse cumulative min); 0 on padding.

    Example:
        >>> min_form_returns([[0.8, -0.2, 0.6], [0.5, 0.9]]).tolist()
        [[-0.2, -0.2, 0.6], [0.5, 0.9, 0.0]]
    """
    back = _restorer(step_rewards)
    r, m = _steps(step_rewards, step_mask)
    x = np.where(m, r, np.inf)[:, ::-1]
    g = np.minimum.accumulate(x, axis=1)[:, ::-1]
    return back(np.where(m, g, 0.0))


def soft_min_weights(step_rewards: Array, temperature: float = 0.1, step_mask: Array | None = None) -> Array:
    """PURE soft-min weights ``w_t = softmax_t(-r_t / T)`` over the real steps of each response.

    Example:
        >>> soft_min_weights([[0.8, -0.2, 0.6]]).round(5).tolist()
        [[5e-05, 0.99962, 0.00034]]
    """
    if temperature <= 0:
        raise PrmkitError(f"temperature must be > 0, got {temperature}", field="temperature")
    back = _restorer(step_rewards)
    r, m = _steps(step_rewards, step_mask)
    z = np.where(m, -r / temperature, -np.inf)
    zmax = np.max(np.where(m, z, -np.inf), axis=1, keepdims=True)
    zmax = np.where(np.isfinite(zmax), zmax, 0.0)
    e = np.where(m, np.exp(z - zmax), 0.0)
    tot = e.sum(axis=1, keepdims=True)
    return back(np.divide(e, tot, out=np.zeros_like(e), where=tot > 0))


def soft_min_rewards(step_rewards: Array, temperature: float = 0.1, step_mask: Array | None = None) -> Array:
    """PURE's transformed step rewards ``r~_t = w_t * r_t`` (their sum tends to ``min_t r_t`` as T -> 0).

    Example:
        >>> soft_min_rewards([[0.8, -0.2, 0.6]]).round(5).tolist()
        [[4e-05, -0.19992, 0.0002]]
    """
    back = _restorer(step_rewards)
    r, m = _steps(step_rewards, step_mask)
    w = soft_min_weights(r, temperature, m)
    return back(w * r)


def soft_min_returns(step_rewards: Array, temperature: float = 0.1, step_mask: Array | None = None) -> Array:
    """Min-form as implemented by PURE: ``G_t = sum_{t'>=t} w_t' r_t'`` (gamma = 1).

    Equals the exact min-form before and at the worst step (as T -> 0) and ~0 after it.

    Example:
        >>> soft_min_returns([[0.8, -0.2, 0.6]]).round(5).tolist()
        [[-0.19969, -0.19972, 0.0002]]
    """
    back = _restorer(step_rewards)
    r, m = _steps(step_rewards, step_mask)
    return back(sum_form_returns(soft_min_rewards(r, temperature, m), 1.0, m))


def credit_step_rewards(
    step_rewards: Array, credit: str = "soft-min", *, temperature: float = 0.1, step_mask: Array | None = None
) -> Array:
    """Per-step rewards whose undiscounted reverse cumulative sum is the chosen credit's return.

    For engines that take token-level rewards and compute returns themselves (gamma = 1, e.g.
    verl's REINFORCE++ / GAE with lambda = gamma = 1): ``"sum"`` returns ``r`` unchanged,
    ``"soft-min"`` PURE's ``w * r``, ``"exact-min"`` the differences ``G_t - G_{t+1}`` of the exact
    min-form returns (so ``sum_{t'>=t}`` of them is ``min_{t'>=t} r_t'``).

    Example:
        >>> credit_step_rewards([[0.8, -0.2, 0.6]], "exact-min").round(3).tolist()
        [[0.0, -0.8, 0.6]]
    """
    back = _restorer(step_rewards)
    r, m = _steps(step_rewards, step_mask)
    if credit == "sum":
        return back(r)
    if credit == "soft-min":
        return back(soft_min_rewards(r, temperature, m))
    if credit == "exact-min":
        g = min_form_returns(r, m)
        nxt = np.concatenate([g[:, 1:], np.zeros((g.shape[0], 1))], axis=1)
        nxt = np.where(np.concatenate([m[:, 1:], np.zeros((m.shape[0], 1), dtype=bool)], axis=1), nxt, 0.0)
        return back(np.where(m, g - nxt, 0.0))
    raise PrmkitError(f"credit must be sum, soft-min or exact-min, got {credit!r}", field="credit")


# ---------------------------------------------------------------- steps <-> tokens


def steps_to_tokens(
    step_values: Array,
    step_ends: Array,
    response_mask: Array,
    *,
    step_mask: Array | None = None,
    spread: bool = False,
) -> Array:
    """Place step values on tokens: ``[B, S]`` -> ``[B, L]``.

    ``spread=False`` (rewards): the value of step t goes on its last token ``step_ends[b, t]``
    (values of steps ending on the same token add up), every other token gets 0.
    ``spread=True`` (returns, advantages): every token of step t (from the token after the
    previous step's end up to its own end) gets the value of step t; tokens after the last
    step end (EOS, trailing text) get 0. Padding (``response_mask`` 0) is always 0.

    Example:
        >>> steps_to_tokens([[1.0, -1.0]], [[1, 3]], [[1, 1, 1, 1, 1, 0]]).tolist()
        [[0.0, 1.0, 0.0, -1.0, 0.0, 0.0]]
        >>> steps_to_tokens([[1.0, -1.0]], [[1, 3]], [[1, 1, 1, 1, 1, 0]], spread=True).tolist()
        [[1.0, 1.0, -1.0, -1.0, 0.0, 0.0]]
    """
    back = _restorer(step_values, response_mask)
    v, m = _steps(step_values, step_mask)
    e = _ends(step_ends, m)
    rm = _resp_mask(response_mask)
    if rm.shape[0] != v.shape[0]:
        raise PrmkitError(
            f"response_mask has {rm.shape[0]} rows, step values {v.shape[0]}", field="response_mask"
        )
    length = rm.shape[1]
    _check_ends(e, m, length)
    out = np.zeros(rm.shape, dtype=np.float64)
    for i in range(v.shape[0]):
        ends = e[i][m[i]]
        vals = v[i][m[i]]
        if not ends.size:
            continue
        if spread:
            idx = np.searchsorted(ends, np.arange(length), side="left")
            inside = idx < ends.size
            out[i, inside] = vals[idx[inside]]
        else:
            np.add.at(out[i], ends, vals)
    return back(np.where(rm, out, 0.0))


def token_returns(token_rewards: Array, response_mask: Array, gamma: float = 1.0) -> Array:
    """Discounted reverse cumulative sum over tokens: ``G_i = r_i + gamma * G_{i+1}`` (padding skipped).

    With rewards on step-end tokens and ``gamma=1`` every token of step t gets the step return.

    Example:
        >>> token_returns([[0.0, 1.0, 0.0, -1.0, 0.0]], [[1, 1, 1, 1, 0]]).tolist()
        [[0.0, 0.0, -1.0, -1.0, 0.0]]
    """
    back = _restorer(token_rewards, response_mask)
    r, rm = _tokens(token_rewards, response_mask)
    return back(_reverse_sum(r, rm, gamma))


# ---------------------------------------------------------------- baselines


def rloo_baseline(values: Array, group_size: int) -> Array:
    """Leave-one-out mean of the other ``K-1`` values of each group (RLOO baseline), ``[B]``.

    Example:
        >>> rloo_baseline([1.0, 0.0, 0.0, 1.0], 4).round(4).tolist()
        [0.3333, 0.6667, 0.6667, 0.3333]
    """
    back = _restorer(values)
    v = _np(values).reshape(-1)
    if group_size < 2:
        raise PrmkitError("RLOO needs group_size >= 2", field="group_size")
    g = _group_view(v, group_size)
    b = (g.sum(axis=1, keepdims=True) - g) / (group_size - 1)
    return back(b.reshape(-1))


def group_normalize(scores: Array, group_size: int, *, scale: bool = True, eps: float = 1e-4) -> Array:
    """GRPO advantage ``(R - mean_group) / (std_group + eps)`` (std with Bessel's correction, as TRL).

    ``scale=False`` only subtracts the mean (Dr. GRPO / TDRM's ``no_std``).

    Example:
        >>> group_normalize([1.0, 0.0, 0.0, 1.0], 4).round(4).tolist()
        [0.8659, -0.8659, -0.8659, 0.8659]
        >>> group_normalize([1.0, 0.0], 2, scale=False).tolist()
        [0.5, -0.5]
    """
    back = _restorer(scores)
    v = _np(scores).reshape(-1)
    g = _group_view(v, group_size)
    a = g - g.mean(axis=1, keepdims=True)
    if scale:
        std = g.std(axis=1, ddof=1, keepdims=True) if group_size > 1 else np.zeros((g.shape[0], 1))
        a = a / (std + eps)
    return back(a.reshape(-1))


# ---------------------------------------------------------------- PURE

#: Source of the PURE defaults below (read for the formulas; nothing copied).
PURE_SOURCE = (
    "CJReinforce/PURE@41f9363b8cc4af044b7fc5f7f9bbbf62139e9553: "
    "openrlhf/trainer/ppo_utils/experience_maker.py (process_experiences, make_experience_list), "
    "openrlhf/trainer/ppo_utils/replay_buffer.py (normalize), openrlhf/utils/utils.py"
)


def _pure_whiten(adv: np.ndarray, rm: np.ndarray, mask_step_ends: bool) -> np.ndarray:
    """PURE's advantage normalisation over the whole batch (its replay buffer's ``normalize``).

    With ``mask_step_ends`` the tokens whose advantage is exactly 0 (the masked step ends) are
    left out of the count and set back to 0 afterwards, but their ``(0 - mean)^2`` still enters
    the variance's sum, as in PURE: ``mean = sum A / n``, ``var = sum_all (A - mean)^2 / n``,
    ``A' = (A - mean) / sqrt(max(var, 1e-8))`` with ``n`` = response tokens minus zero tokens.
    """
    vals = adv[rm]
    zero = (vals == 0.0) if mask_step_ends else np.zeros(vals.shape, dtype=bool)
    n = vals.size - int(zero.sum())
    if n <= 0:
        return np.zeros_like(adv)
    mean = vals.sum() / n
    var = ((vals - mean) ** 2).sum() / n
    out_vals = np.where(zero, 0.0, (vals - mean) / np.sqrt(max(var, 1e-8)))
    out = np.zeros_like(adv)
    out[rm] = out_vals
    return out


def pure_advantages(
    step_rewards: Array,
    step_ends: Array,
    response_mask: Array,
    group_size: int,
    *,
    credit: str = "soft-min",
    temperature: float = 0.1,
    gamma: float = 1.0,
    baseline: str = "token",
    outcome: Array | None = None,
    outcome_coef: float = 1.0,
    step_mask: Array | None = None,
    mask_step_ends: bool = True,
    whiten: bool = True,
) -> Array:
    """Token advantages from step process rewards as PURE's code computes them (docs/methods.md#f1-pure-min-form-credit), ``[B, L]``.

    Defaults reproduce CJReinforce/PURE (``--advantage_estimator rloo``, gamma 1, see
    :data:`PURE_SOURCE`), given PURE's token layout: ``step_ends[t]`` is the step's **separator
    token** and the last step ends on the response's **last token** (EOS), as
    :func:`prmkit.rl.align.separator_step_ends` returns. Pass the whole rollout batch: the
    baseline works per group, the normalisation over the batch.

    1. ``credit``: ``"soft-min"`` (PURE: ``r~ = softmax(-r/T) * r``), ``"sum"`` (raw ``r``;
       PURE's ``--disable_weighted_reward`` is ``"sum"`` on ``r / n_steps``) or ``"exact-min"``
       (``G_t = min_{t'>=t} r_t'``, not in PURE's code).
    2. ``baseline`` (RLOO over the ``K = group_size`` responses of a prompt), subtracted from the
       reward on each step-end token: ``"token"`` (PURE's recipe) ``(sum of the other K-1
       responses' rewards / their total response tokens) * n_t``, with ``n_t`` the tokens of
       step t **without** its end token (PURE's ``num_tokens_per_step``); ``"step"`` (PURE's
       CLI default) the other responses' mean per-step reward; ``"none"``. For ``exact-min``
       the return is no sum: the baseline is the leave-one-out mean of ``G_0``.
    3. ``outcome`` ``[B]`` (PURE: ``solved - 1``) is RLOO-baselined, times ``outcome_coef``
       (``--verifiable_reward_coef``), and added to every response token (PURE puts it on EOS;
       with gamma 1 every token's return carries it).
    4. Returns: reverse cumulative sum over tokens (``gamma``; PURE has none, i.e. 1).
    5. ``mask_step_ends`` (PURE default; ``False`` = ``--nomask_separator_adv``): advantage 0 on
       every step-end token (separators and EOS), which then take no part in the loss.
    6. ``whiten`` (PURE default; ``False`` = ``--disable_advantage_normalization``): normalise over
       all response tokens of the batch as PURE's replay buffer does; with ``mask_step_ends`` the
       zero-advantage tokens are left out of the mean and the count and stay 0 (their squared
       distance to the mean still enters the variance sum, as in PURE). Turn it off for a
       single group or when the trainer normalises advantages itself.

    PURE also subtracts ``init_kl_coef * KL`` per token before step 4 (0.001 in its recipe);
    prmkit leaves the KL term to the trainer.

    Example:
        >>> a = pure_advantages([[1.0, -1.0], [1.0, 1.0]], [[1, 3], [1, 3]], [[1] * 4] * 2, 2,
        ...                     credit="exact-min", baseline="none", mask_step_ends=False, whiten=False)
        >>> a.tolist()
        [[-1.0, -1.0, -1.0, -1.0], [1.0, 1.0, 1.0, 1.0]]
        >>> b = pure_advantages([[1.0, -1.0], [1.0, 1.0]], [[1, 3], [1, 3]], [[1] * 4] * 2, 2,
        ...                     credit="sum", baseline="none", whiten=False)
        >>> b.tolist()  # step-end tokens (1 and 3) masked to 0
        [[0.0, 0.0, -1.0, 0.0], [2.0, 0.0, 1.0, 0.0]]
    """
    back = _restorer(step_rewards, response_mask)
    r, m = _steps(step_rewards, step_mask)
    e = _ends(step_ends, m)
    rm = _resp_mask(response_mask)
    n_tok = rm.sum(axis=1).astype(np.float64)
    if baseline not in ("token", "step", "none"):
        raise PrmkitError(f"baseline must be token, step or none, got {baseline!r}", field="baseline")
    if credit == "exact-min":
        g = min_form_returns(r, m)
        adv = steps_to_tokens(g, e, rm, step_mask=m, spread=True)
        if baseline != "none":
            first = np.where(m.any(axis=1), g[:, 0], 0.0)
            adv = adv - rloo_baseline(first, group_size)[:, None] * rm
    elif credit in ("soft-min", "sum"):
        rt = soft_min_rewards(r, temperature, m) if credit == "soft-min" else r
        if baseline == "token":
            tot = _group_view(rt.sum(axis=1), group_size)
            toks = _group_view(n_tok, group_size)
            others_r = tot.sum(axis=1, keepdims=True) - tot
            others_n = toks.sum(axis=1, keepdims=True) - toks
            per_tok = np.divide(others_r, others_n, out=np.zeros_like(others_r), where=others_n > 0)
            prev = np.concatenate([np.full((e.shape[0], 1), -1), e[:, :-1]], axis=1)
            step_len = np.where(m, np.maximum(e - prev - 1, 0), 0)  # the end token not counted
            rt = rt - per_tok.reshape(-1)[:, None] * step_len
        elif baseline == "step":
            n_steps = m.sum(axis=1).astype(np.float64)
            mean_step = np.divide(rt.sum(axis=1), n_steps, out=np.zeros(len(n_steps)), where=n_steps > 0)
            rt = rt - rloo_baseline(mean_step, group_size)[:, None] * m
        adv = token_returns(steps_to_tokens(rt, e, rm, step_mask=m), rm, gamma)
    else:
        raise PrmkitError(f"credit must be soft-min, sum or exact-min, got {credit!r}", field="credit")
    if outcome is not None:
        o = _np(outcome).reshape(-1)
        adv = adv + outcome_coef * (o - rloo_baseline(o, group_size))[:, None] * rm
    adv = np.where(rm, adv, 0.0)
    if mask_step_ends:
        ends_mask = steps_to_tokens(np.ones_like(r), e, rm, step_mask=m) > 0
        adv = np.where(ends_mask, 0.0, adv)
    if whiten:
        adv = _pure_whiten(adv, rm, mask_step_ends)
    return back(adv)


# ---------------------------------------------------------------- PRIME / implicit PRM


def implicit_process_rewards(
    logprobs: Array, ref_logprobs: Array, response_mask: Array, beta: float = 0.05
) -> Array:
    """Token-level implicit process rewards ``r_i = beta * (log pi(y_i) - log pi_ref(y_i))`` (D3, F2).

    PRIME's RL reward (``token_level_score``) is the raw log-ratio: ``beta=1``
    (see :func:`prime_advantages`).

    Example:
        >>> implicit_process_rewards([[-1.0, -2.0]], [[-1.5, -1.0]], [[1, 1]], beta=0.5).tolist()
        [[0.25, -0.5]]
    """
    back = _restorer(logprobs, ref_logprobs, response_mask)
    lp, lr = _np(logprobs), _np(ref_logprobs)
    rm = _resp_mask(response_mask)
    if lp.ndim == 1:
        lp, lr = lp[None, :], lr[None, :]
    if lp.shape != lr.shape or lp.shape != rm.shape:
        raise PrmkitError(
            f"shapes differ: logprobs {lp.shape}, ref {lr.shape}, mask {rm.shape}", field="logprobs"
        )
    return back(np.where(rm, beta * (lp - lr), 0.0))


def implicit_step_rewards(
    token_log_ratios: Array, step_ends: Array, response_mask: Array, beta: float = 0.05
) -> tuple[Array, Array]:
    """Step rewards ``r^t = beta * sum_{i in step t} log-ratio_i`` and ``q^t = sum_{s<=t} r^s`` (D3).

    Returns ``(step_rewards [B, S], q [B, S])``; padding steps (end ``-1``) are 0.

    Example (docs/methods.md#d3-implicit-prm):
        >>> r, q = implicit_step_rewards([[0.5, 1.5, -2.0]], [[1, 2]], [[1, 1, 1]], beta=0.5)
        >>> r.tolist(), q.tolist()
        ([[1.0, -1.0]], [[1.0, 0.0]])
    """
    back = _restorer(token_log_ratios, response_mask)
    x = _np(token_log_ratios)
    if x.ndim == 1:
        x = x[None, :]
    rm = _resp_mask(response_mask)
    if _is_ragged_list(step_ends):
        _, m = pad_steps([[0.0] * len(r) for r in step_ends])
    else:
        e0 = _np(step_ends, dtype=np.int64)
        m = (e0 if e0.ndim == 2 else e0[None, :]) >= 0
    e = _ends(step_ends, m)
    _check_ends(e, m, rm.shape[1])
    cum = np.cumsum(np.where(rm, x, 0.0), axis=1) * beta
    q = np.where(m, np.take_along_axis(cum, np.clip(e, 0, None), axis=1), 0.0)
    prev = np.concatenate([np.zeros((q.shape[0], 1)), q[:, :-1]], axis=1)
    r = np.where(m, q - prev, 0.0)
    return back(r), back(q)


#: Source of the PRIME defaults below (read for the formulas; nothing copied).
PRIME_SOURCE = (
    "PRIME-RL/PRIME@18ad596f08d487bb546d80d738d99ec697bd2e75: "
    "training/verl/trainer/ppo/core_algos.py (compute_rloo_returns), "
    "training/verl/workers/actor/dp_prime.py (compute_implicit_reward, prime_norm), "
    "training/verl/utils/torch_functional.py (masked_whiten), training/examples/run_prime_main.sh"
)


def _masked_whiten(x: np.ndarray, rm: np.ndarray) -> np.ndarray:
    """verl's ``masked_whiten`` over the whole batch: ``(x - mean) / sqrt(var + 1e-8)``, ``var``
    with Bessel's correction over the masked entries; 0 off the mask."""
    vals = x[rm]
    if vals.size < 2:
        raise PrmkitError(
            f"whitening needs at least 2 response tokens in the batch, got {vals.size}; use whiten=False",
            field="whiten",
        )
    mean = vals.mean()
    var = ((vals - mean) ** 2).sum() / (vals.size - 1)
    return np.where(rm, (x - mean) / np.sqrt(var + 1e-8), 0.0)


def prime_advantages(
    token_rewards: Array,
    response_mask: Array,
    outcome: Array,
    group_size: int,
    *,
    gamma: float = 1.0,
    outcome_gamma: float = 1.0,
    rloo: str = "prime",
    batch_norm: bool = True,
    whiten: bool = True,
    rm_coef: float = 1.0,
    outcome_coef: float = 1.0,
) -> Array:
    """PRIME advantages as PRIME's code computes them (docs/methods.md#f2-prime), ``[B, L]``.

    Defaults reproduce PRIME-RL/PRIME (``adv_estimator=rloo``, ``prime_granularity=token``,
    ``prime_norm=batch_norm``; see :data:`PRIME_SOURCE`) on the whole rollout batch.
    ``token_rewards`` are PRIME's ``token_level_score``: the **raw** log-ratio
    ``log pi_phi(y_i) - log pi_ref(y_i)`` per response token (no beta; beta only enters the
    implicit PRM's loss), i.e. :func:`implicit_process_rewards` with ``beta=1``.

    1. ``batch_norm``: ``r <- r / (max_{b,i} |sum_{s>=i} r^b_s| + 1e-6)``, the largest absolute
       reverse cumulative sum in the batch (PRIME's ``prime_norm=batch_norm``).
    2. RLOO per reward source, ``rloo="prime"``: every token of response ``i`` gets
       ``r_s^i K/(K-1) - sum_j mean(r^j)/(K-1)``, the sum over **all** K responses of the group,
       its own included (``mean`` over a response's tokens). ``rloo="others"`` instead
       subtracts the mean of the other K-1 responses' means, ``r_s^i - sum_{j!=i} mean(r^j)/(K-1)``
       (equal on average over a response, not per token). The outcome ``o`` sits on the last
       response token, with ``o^i - sum_{j!=i} o^j/(K-1)`` (both forms agree there).
    3. Returns: discounted reverse sums, ``gamma`` for the process part (``reward_model_gamma``),
       ``outcome_gamma`` for the outcome (``verifier_gamma``), added up. PRIME: both 1.
    4. ``whiten``: verl's ``masked_whiten`` over all response tokens of the batch (mean 0,
       unit variance with Bessel's correction, ``+1e-8``). Off for a single group or when the
       trainer normalises advantages itself.

    ``rm_coef`` and ``outcome_coef`` weigh the two sources before step 3. PRIME's RLOO reads
    neither: its ``reward_model.rm_coef=5`` only scales a combined reward tensor that the RLOO
    estimator does not use, so the defaults are 1.

    Example (docs/methods.md#f2-prime, without PRIME's normalisations):
        >>> tr = [[0.1, 0.3], [-0.1, -0.1], [0.0, 0.0], [0.3, 0.3]]
        >>> prime_advantages(tr, [[1, 1]] * 4, [1, 0, 0, 1], 4, rloo="others", batch_norm=False,
        ...                  whiten=False)[0].round(4).tolist()
        [0.9333, 0.9]
        >>> prime_advantages(tr, [[1, 1]] * 4, [0, 0, 0, 0], 4, batch_norm=False,
        ...                  whiten=False)[0].round(4).tolist()  # PRIME's form: (4 r - 0.4) / 3 per token
        [0.2667, 0.2667]
    """
    back = _restorer(token_rewards, response_mask)
    r, rm = _tokens(token_rewards, response_mask)
    if rloo not in ("prime", "others"):
        raise PrmkitError(f"rloo must be prime or others, got {rloo!r}", field="rloo")
    if group_size < 2:
        raise PrmkitError("RLOO needs group_size >= 2", field="group_size")
    if batch_norm and r.size:
        r = r / (np.abs(_reverse_sum(r, rm, 1.0)).max() + 1e-6)
    n = rm.sum(axis=1)
    means = np.divide(r.sum(axis=1), n, out=np.zeros(r.shape[0]), where=n > 0)
    if rloo == "prime":
        k = group_size
        all_means = _group_view(means, k).sum(axis=1, keepdims=True).repeat(k, axis=1).reshape(-1)
        dense = r * k / (k - 1) - all_means[:, None] / (k - 1)
    else:
        dense = r - rloo_baseline(means, group_size)[:, None]
    o = _np(outcome).reshape(-1)
    last = _last_token(rm)
    o_tok = np.where(last, (o - rloo_baseline(o, group_size))[:, None], 0.0)
    returns = rm_coef * _reverse_sum(np.where(rm, dense, 0.0), rm, gamma) + outcome_coef * _reverse_sum(
        o_tok, rm, outcome_gamma
    )
    if whiten:
        returns = _masked_whiten(returns, rm)
    return back(np.where(rm, returns, 0.0))


# ---------------------------------------------------------------- hybrid (verifiable + process)


def hybrid_advantages(
    outcome: Array,
    process: Array,
    group_size: int,
    *,
    outcome_weight: float = 0.5,
    process_weight: float = 0.5,
    scale: bool = True,
    eps: float = 1e-4,
    response_mask: Array | None = None,
) -> Array:
    """GRPO advantages of ``R = outcome_weight * o + process_weight * P`` (TDRM's RL recipe, F3).

    ``process`` is one process score per response: any aggregate of the step scores
    (:func:`prmkit.aggregate.aggregate_steps`; prmkit's adapters default to ``min``). TDRM's own
    RL recipe instead takes the PRM head's raw logit on the response cut before its ``\\boxed``
    step. Returns ``[B]``, or ``[B, L]`` broadcast over ``response_mask`` when given. Defaults
    0.5/0.5 and ``eps=1e-4`` follow TDRM; this function is exact for a given ``process``.

    Example:
        >>> hybrid_advantages([1, 1, 0, 0], [1.0, 0.0, 1.0, 0.0], 4).round(3).tolist()
        [1.224, 0.0, 0.0, -1.224]
    """
    back = _restorer(outcome, process, response_mask)
    o, p = _np(outcome).reshape(-1), _np(process).reshape(-1)
    if o.shape != p.shape:
        raise PrmkitError(f"{o.size} outcomes but {p.size} process scores", field="process")
    a = group_normalize(outcome_weight * o + process_weight * p, group_size, scale=scale, eps=eps)
    if response_mask is not None:
        rm = _resp_mask(response_mask)
        a = a[:, None] * rm
    return back(a)


# ---------------------------------------------------------------- TDRM


def td_targets(
    values: Array,
    *,
    rewards: Array | None = None,
    gamma: float = 0.8,
    n_step: int = 1,
    outcome: Array | None = None,
    step_mask: Array | None = None,
    clip: bool = True,
) -> Array:
    """TDRM n-step TD targets for step values (probabilities ``sigma(V(s_t))``), ``[B, S]``.

    Non-terminal step t: ``clip(sum_{k<n} gamma^k r_{t+k} + gamma^n V_{t+n}, 0, 1)`` (the
    bootstrap term is dropped when ``t+n`` is past the last step, TDRM's ``mask``); the last
    step's target is the outcome ``o`` when given (TDRM's terminal loss), else the n-step
    target without bootstrap. ``rewards`` default to 0 (TDRM's process reward ``r_t``).
    Using the targets as smoothed step values ("TD smoothing") damps isolated spikes.

    Example (docs/methods.md#f3-tdrm):
        >>> td_targets([[0.5, 0.9]], rewards=[[0.0, 0.0]]).round(2).tolist()[0][0]
        0.72
        >>> td_targets([[0.5, 0.9], [0.5, 0.9]], rewards=[[0.2, 0.0], [0.5, 0.0]], outcome=[1, 1]).round(4).tolist()
        [[0.92, 1.0], [1.0, 1.0]]
    """
    if n_step < 1:
        raise PrmkitError(f"n_step must be >= 1, got {n_step}", field="n_step")
    back = _restorer(values, rewards)
    v, m = _steps(values, step_mask)
    r = np.zeros_like(v) if rewards is None else np.where(m, _steps(rewards, m)[0], 0.0)
    n_steps = m.sum(axis=1)
    b, s = v.shape
    out = np.zeros_like(v)
    for t in range(s):
        acc = np.zeros(b)
        for k in range(n_step):
            ok = t + k < n_steps
            acc = acc + np.where(ok, (gamma**k) * (r[:, t + k] if t + k < s else 0.0), 0.0)
        boot_ok = t + n_step < n_steps
        vb = v[:, t + n_step] if t + n_step < s else np.zeros(b)
        acc = acc + np.where(boot_ok, (gamma**n_step) * vb, 0.0)
        out[:, t] = np.clip(acc, 0.0, 1.0) if clip else acc
    if outcome is not None:
        o = _np(outcome).reshape(-1)
        last = np.maximum(n_steps - 1, 0)
        has = n_steps > 0
        out[np.arange(b)[has], last[has]] = o[has]
    return back(np.where(m, out, 0.0))


def td_loss(pred_values: Array, targets: Array, step_mask: Array | None = None) -> float:
    """Mean TDRM cross-entropy ``-[y log p + (1-y) log(1-p)]`` over real steps (p = predicted value).

    Example (docs/methods.md#f3-tdrm: with p = target = 0.72 the loss is H(0.72)):
        >>> round(td_loss([[0.72]], [[0.72]]), 4)
        0.593
    """
    p, m = _steps(pred_values, step_mask)
    y = _steps(targets, m)[0]
    p = np.clip(p, 1e-12, 1 - 1e-12)
    ce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(ce[m].mean()) if m.any() else 0.0


def td_smoothness(values: Array, step_mask: Array | None = None) -> float:
    """TDRM smoothness diagnostic: mean ``|V(s_{t+1}) - V(s_t)|`` over consecutive real steps (lower = smoother).

    Example:
        >>> td_smoothness([[0.9, 0.5, 0.7], [1.0, 1.0, 0.0]])
        0.4
    """
    v, m = _steps(values, step_mask)
    d = np.abs(np.diff(v, axis=1))
    both = m[:, 1:] & m[:, :-1]
    return float(d[both].mean()) if both.any() else 0.0
