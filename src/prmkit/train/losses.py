"""PRM training losses (docs/methods.md#d-training-losses), on torch tensors.

Every step-level format is reduced to one *step logit* ``z`` per position with ``p = sigmoid(z)``:
a 2-class head gives ``z = logit_pos - logit_neg`` (softmax of two classes = sigmoid of their
difference), the ``+``/``-`` token pair gives ``z = logit(+) - logit(-)``, a value head gives its
scalar. Binary cross-entropy with a float target is then exact for soft labels (D1), and PQM reads
the same ``z`` as its Q-value (D2).

Example:
    >>> import torch
    >>> round(bce_step_loss(torch.tensor([[0.0]]), torch.tensor([[0.375]])).item(), 4)  # p = 0.5
    0.6931
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from prmkit.render import PRMFormat

IGNORE = -100.0


def step_logits(logits: Any, fmt: PRMFormat, good_id: int | None = None, bad_id: int | None = None) -> Any:
    """Per-position step logit ``z`` (``p = sigmoid(z)``) from a model's output logits ``[B, L, C]``.

    Example:
        >>> import torch
        >>> from prmkit.render import get_format
        >>> z = step_logits(torch.tensor([[[0.0, 2.0]]]), get_format("token-classification"))
        >>> round(torch.sigmoid(z).item(), 4)  # softmax([0, 2])[1]
        0.8808
    """
    if fmt.head == "classification":
        pos = fmt.positive_index
        return logits[..., pos] - logits[..., 1 - pos]
    if fmt.head == "token-pair":
        if good_id is None or bad_id is None:
            raise ValueError("token-pair format needs good_id and bad_id")
        return logits[..., good_id] - logits[..., bad_id]
    if fmt.head == "value":
        return logits[..., 0]
    raise ValueError(f"format head {fmt.head!r} has no step logit")


def bce_step_loss(z: Any, labels: Any, hard: bool = False, denom: float | None = None) -> Any:
    """Mean binary cross-entropy over positions whose label is not ``-100`` (docs/methods.md#d1-step-cross-entropy).

    Labels stay floats (soft labels are Bernoulli targets); ``hard=True`` rounds them at 0.5.
    ``denom`` replaces the per-batch label count by a fixed normaliser (sum / denom), so that every
    step weighs the same whichever batch it lands in (length-grouped batches hold very different
    numbers of steps).

    Example:
        >>> import torch, math
        >>> p = torch.tensor([[0.4]]); z = torch.log(p / (1 - p))
        >>> round(bce_step_loss(z, torch.tensor([[0.375]])).item(), 4)
        0.6629
        >>> round(bce_step_loss(z, torch.tensor([[0.375]]), hard=True).item(), 4)  # label 0
        0.5108
    """
    mask = labels != IGNORE
    if not bool(mask.any()):
        return z.sum() * 0.0
    y = labels[mask].to(torch.float32)
    if hard:
        y = (y >= 0.5).to(torch.float32)
    if denom is not None:
        return F.binary_cross_entropy_with_logits(z[mask].to(torch.float32), y, reduction="sum") / denom
    return F.binary_cross_entropy_with_logits(z[mask].to(torch.float32), y)


def pqm_loss(q: Any, labels: Any, zeta: float = 4.0, eps: float = 1e-5) -> Any:
    """PQM comparative ranking loss (docs/methods.md#d2-pqm-ranking-loss), exactly as the official implementation.

    ``q``: ``[B, L]`` Q-values; ``labels``: ``[B, L]`` (``-100`` off steps; ``>= 0.5`` = correct).
    Per trajectory, for each correct step ``c`` (and a virtual initial state ``Q_0 = 0`` when there
    is a wrong step): ``-log(e^{Q_c} / (e^{Q_c} + 1 + sum_{c'<c} e^{Q_c'} + sum_w e^{Q_w + zeta} + eps))``;
    mean over its terms, then over trajectories. Computed in log space.

    Example:
        >>> import torch
        >>> lab = torch.tensor([[1.0, 1.0, 0.0]])
        >>> round(pqm_loss(torch.tensor([[1.0, 2.0, -3.0]]), lab, zeta=2).item(), 4)
        0.387
        >>> round(pqm_loss(torch.tensor([[1.0, 2.0, -1.0]]), lab, zeta=4).item(), 4)
        2.2195
    """
    log_eps = math.log(eps)
    per_traj = []
    for row_q, row_y in zip(q, labels, strict=True):
        mask = row_y != IGNORE
        if not bool(mask.any()):
            continue
        qs = row_q[mask].to(torch.float32)
        ys = row_y[mask]
        correct = ys >= 0.5
        qc, qw = qs[correct], qs[~correct]
        zero = qs.new_zeros(1)
        log_neg = torch.logsumexp(qw + zeta, 0) if qw.numel() else None
        terms = []
        if qc.numel():
            # log(1 + sum_{c' < c} e^{Q_c'}) for each c, in order
            prev = torch.logcumsumexp(torch.cat([zero, qc]), 0)[:-1]
            parts = [qc, prev, torch.full_like(qc, log_eps)]
            if log_neg is not None:
                parts.append(log_neg.expand_as(qc))
            denom = torch.logsumexp(torch.stack(parts), 0)
            terms.append(denom - qc)
        if log_neg is not None:
            virt = torch.logsumexp(torch.stack([zero[0], log_neg, zero[0] + log_eps]), 0)
            terms.append(virt.reshape(1))
        per_traj.append(torch.cat(terms).mean())
    if not per_traj:
        return q.sum() * 0.0
    return torch.stack(per_traj).mean()


def token_logprobs(logits: Any, input_ids: Any) -> Any:
    """``log p(x_i | x_<i)`` at each position ``i`` (0 at position 0), shape ``[B, L]``."""
    lp = torch.log_softmax(logits[:, :-1].to(torch.float32), -1)
    tok = torch.gather(lp, 2, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return torch.cat([tok.new_zeros(tok.shape[0], 1), tok], 1)


def implicit_reward(logp: Any, logp_ref: Any, response_mask: Any, beta: float) -> Any:
    """Sequence reward ``r = beta * sum_i log(pi(y_i)/pi_ref(y_i))`` over response tokens (D3)."""
    return beta * ((logp - logp_ref) * response_mask).sum(-1)


def implicit_step_rewards(
    token_logratio: Any, spans: list[tuple[int, int] | None], beta: float
) -> list[float | None]:
    """Step rewards ``r^t = beta * sum_{i in step t} log-ratio_i`` (D3); ``q^t`` is their cumsum.

    Example:
        >>> import torch
        >>> implicit_step_rewards(torch.tensor([0.5, 1.5, -2.0]), [(0, 2), (2, 3)], beta=0.5)
        [1.0, -1.0]
    """
    out: list[float | None] = []
    for span in spans:
        out.append(None if span is None else float(beta * token_logratio[span[0] : span[1]].sum()))
    return out


def implicit_ce_loss(reward: Any, outcome: Any) -> Any:
    """Implicit PRM CE loss (D3): ``-[l log sigma(r) + (1-l) log(1 - sigma(r))]``, mean over the batch.

    Example:
        >>> import torch
        >>> round(implicit_ce_loss(torch.tensor([0.0]), torch.tensor([1.0])).item(), 4)
        0.6931
    """
    return F.binary_cross_entropy_with_logits(reward.float(), outcome.float())


def implicit_dpo_loss(reward_chosen: Any, reward_rejected: Any) -> Any:
    """Implicit PRM DPO loss (D3): ``-log sigma(r(y_w) - r(y_l))``, mean over pairs.

    Example:
        >>> import torch
        >>> round(implicit_dpo_loss(torch.tensor([1.0]), torch.tensor([0.0])).item(), 4)
        0.3133
    """
    return -F.logsigmoid(reward_chosen.float() - reward_rejected.float()).mean()


#: FreePRM's buffer weight ``beta`` in the authors' code (``train_prm.py``, ``use_random_beta`` off)
FREEPRM_BETA = 0.5


def freeprm_loss(logits: Any, pseudo: Any, buffer_factor: Any = None) -> Any:
    """FreePRM buffer loss (docs/methods.md#d5-freeprm-buffer-loss), mean over steps.

    ``logits``: ``[N, 3]`` per step, classes ``(right, wrong, buffer)``; ``pseudo``: ``[N]`` pseudo
    labels from the outcome (``>= 0.5``: the answer is right, so every step is "right");
    ``buffer_factor``: ``[N]`` weights ``a_t`` in [0, 1] of the buffer mass (``None``: 1). The
    loss is ``-log(p_right + a_t p_buffer)`` for a pseudo-right step, ``-log(p_wrong + a_t
    p_buffer)`` for a pseudo-wrong one, computed in log space.

    Example (logits ``(ln 2, 0, 0)``: ``p = (0.5, 0.25, 0.25)``):
        >>> import math, torch
        >>> z = torch.tensor([[math.log(2), 0.0, 0.0]] * 3)
        >>> round(freeprm_loss(z, torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 0.5])).item(), 4)
        0.4836
    """
    logits = logits.to(torch.float64)
    log_p = torch.log_softmax(logits, -1)
    right = pseudo >= 0.5
    keep = torch.where(right, log_p[:, 0], log_p[:, 1])
    a = torch.ones_like(keep) if buffer_factor is None else buffer_factor.to(torch.float64)
    buf = log_p[:, 2] + torch.log(a)  # log 0 = -inf: the buffer does not count
    return -torch.logaddexp(keep, buf).mean()
