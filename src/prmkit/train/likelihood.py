"""Training the ``lm-likelihood`` PRM (:mod:`prmkit.scorers.likelihood`): a causal LM (the base,
e.g. the packaged ``arith-base``) whose token log-probabilities become step features, and a
logistic head fitted on the step labels.

The head is fitted by L-BFGS on binary cross-entropy (soft labels allowed) over the labelled
steps (``after_error`` as for the other formats: ``drop`` keeps the steps up to the first one
labelled below 0.5), with features standardised and an L2 penalty ``1e-3 |w|^2``.

Without step labels (``loss="freeprm"`` or ``"outcome-bce"``) every step takes its solution's
outcome as a pseudo label (:func:`outcome_pseudo_labels`); ``freeprm`` fits a three-class head
(right, wrong, buffer; docs/methods.md#d5-freeprm-buffer-loss) whose right-vs-wrong part is saved
as the same logistic head, and the bias is set from outcomes only (:func:`_outcome_bias`).

Example:
    >>> head = fit_head([[0.0], [1.0], [2.0], [3.0]], [0.0, 0.0, 1.0, 1.0])
    >>> apply_head([0.0], head) < 0.5 < apply_head([3.0], head)
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from prmkit.errors import PrmkitError
from prmkit.grading import is_correct, solution_answer
from prmkit.records import Solution
from prmkit.render import get_format, render_many
from prmkit.scorers.likelihood import (
    FEATURES,
    SPANS,
    LikelihoodScorer,
    _Pieces,
    apply_head,
    batch_features,
    digit_mask,
)
from prmkit.train.losses import FREEPRM_BETA, freeprm_loss

__all__ = [
    "apply_head",
    "fit_ensemble",
    "fit_head",
    "fit_head_freeprm",
    "outcome_pseudo_labels",
    "step_features_of",
    "train_likelihood",
]


def fit_head(
    features: Sequence[Sequence[float]], labels: Sequence[float], l2: float = 1e-3
) -> dict[str, Any]:
    """Logistic regression ``P(correct) = sigmoid(w . (x - mu) / sigma + b)`` by L-BFGS."""
    z, y, head = _standardised(features, labels)
    w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    _lbfgs(
        [w, b],
        lambda: torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, y) + l2 * (w * w).sum(),
    )
    return head | {"w": w.detach().tolist(), "b": float(b.detach()[0])}


def _standardised(
    features: Sequence[Sequence[float]], labels: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Standardised features ``z``, labels ``y`` and the head's fields that describe ``z``
    (feature names, ``mu``, ``sigma``)."""
    if len(features) != len(labels) or not features:
        raise PrmkitError(f"need as many labels as feature rows (got {len(features)} and {len(labels)}), > 0")
    x = torch.tensor(features, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    mu, sigma = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    names = list(FEATURES[: x.shape[1]]) if x.shape[1] <= len(FEATURES) else None
    return (x - mu) / sigma, y, {"features": names, "mu": mu.tolist(), "sigma": sigma.tolist()}


def _lbfgs(params: list[torch.Tensor], loss_fn: Any) -> None:
    """Minimise ``loss_fn()`` over ``params`` with L-BFGS (strong Wolfe line search)."""
    opt = torch.optim.LBFGS(params, max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    opt.step(closure)


def fit_head_freeprm(
    features: Sequence[Sequence[float]],
    pseudo: Sequence[float],
    l2: float = 1e-3,
    buffer_factor: float | None = FREEPRM_BETA,
    seed: int = 0,
    last: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """FreePRM's buffer loss on a linear three-class head (right, wrong, buffer), by L-BFGS.

    Logits ``(w_r . z + b_r, 0, w_b . z + b_b)`` on standardised features ``z`` (the wrong class
    is the reference); loss :func:`prmkit.train.losses.freeprm_loss` with the buffer weight
    ``buffer_factor`` (the authors' default 0.5), or (``None``) a weight drawn uniformly in [0, 1)
    per step from ``seed`` (prmkit's variant). A step flagged in ``last`` (a solution's final step,
    whose pseudo label is its outcome, "clear" in the authors' code) gets no buffer.
    Returns the logistic head ``P(right | right or wrong) = sigmoid(w_r . z + b_r)`` (the format
    :func:`fit_head` returns, read by the same scorer) and ``"buffer": {"w", "b"}``.

    Example:
        >>> head = fit_head_freeprm([[0.0], [1.0], [2.0], [3.0]], [0.0, 0.0, 1.0, 1.0])
        >>> apply_head([0.0], head) < 0.5 < apply_head([3.0], head)
        True
    """
    z, y, head = _standardised(features, pseudo)
    if buffer_factor is None:
        a = torch.rand(len(y), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    else:
        a = torch.full((len(y),), float(buffer_factor), dtype=torch.float64)
    if last is not None:
        if len(last) != len(y):
            raise PrmkitError(f"last has {len(last)} flags for {len(y)} steps", field="last")
        a = torch.where(torch.tensor(list(last), dtype=torch.bool), torch.zeros_like(a), a)
    w = torch.zeros(2, z.shape[1], dtype=torch.float64, requires_grad=True)  # rows: right, buffer
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)

    def loss() -> torch.Tensor:
        lr_, lb = (z @ w.T + b).unbind(-1)
        return freeprm_loss(torch.stack([lr_, torch.zeros_like(lr_), lb], -1), y, a) + l2 * (w * w).sum()

    _lbfgs([w, b], loss)
    wd, bd = w.detach(), b.detach()
    return head | {"w": wd[0].tolist(), "b": float(bd[0]), "buffer": {"w": wd[1].tolist(), "b": float(bd[1])}}


def fit_ensemble(
    features: Sequence[Sequence[float]],
    labels: Sequence[float],
    groups: Sequence[int],
    k: int = 8,
    seed: int = 0,
    l2: float = 1e-3,
) -> list[dict[str, Any]]:
    """``k`` heads (:func:`fit_head`), each on a bootstrap resample of the solutions (``groups``:
    the solution index of each feature row; a solution's steps are drawn together). Their
    disagreement on a step is the epistemic part of ActPRM's uncertainty
    (:mod:`prmkit.label.select`). ``k=1`` is the plain fit on all rows.

    Example:
        >>> heads = fit_ensemble([[0.0], [1.0], [2.0], [3.0]], [0.0, 0.0, 1.0, 1.0], [0, 0, 1, 1], k=1)
        >>> len(heads), apply_head([3.0], heads[0]) > 0.5
        (1, True)
    """
    if k == 1:
        return [fit_head(features, labels, l2)]
    gen = torch.Generator().manual_seed(seed)
    by_group: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    keys = list(by_group)
    heads = []
    for _ in range(k):
        rows: list[int] = []
        for j in torch.randint(len(keys), (len(keys),), generator=gen).tolist():
            rows += by_group[keys[j]]
        ys = [labels[i] for i in rows]
        if min(ys) == max(ys):  # a one-class resample: fall back to all rows
            rows = list(range(len(labels)))
        heads.append(fit_head([features[i] for i in rows], [labels[i] for i in rows], l2))
    return heads


def outcome_pseudo_labels(record: Solution) -> list[float]:
    """FreePRM's pseudo labels: every step 1.0 if the solution's final answer is right, else 0.0
    (the answer is ``record.answer``, or extracted from the last steps; graded by
    :mod:`prmkit.grading`). Raises when the record has no reference answer.

    Example:
        >>> outcome_pseudo_labels(Solution(id="a", problem="p", steps=["x", "y"], answer="4",
        ...                                reference_answer="4"))
        [1.0, 1.0]
    """
    answer = record.answer if record.answer is not None else solution_answer(record.steps)
    ok = is_correct(answer, record.reference_answer)
    if ok is None:
        raise PrmkitError(f"record {record.id!r} has no reference answer: outcome losses need one")
    return [1.0 if ok else 0.0] * len(record.steps)


def _outcome_bias(
    head: dict[str, Any], outcomes: Sequence[bool], feats: list[list[list[float] | None]]
) -> float:
    """The bias shifted to maximise ProcessBench's F1 *at the outcome level* on the training
    records (no step labels): a solution with a wrong answer should have a step below 0.5
    somewhere, one with a right answer none; F1 is the harmonic mean of the two accuracies."""
    z = [[None if f is None else _logit(apply_head(f, head)) for f in row] for row in feats]
    best, best_f1 = head["b"], -1.0
    for shift in [x / 4 for x in range(-16, 17)]:
        flagged = [any(v is not None and v + shift < 0 for v in row) for row in z]
        wrong = [f for f, ok in zip(flagged, outcomes, strict=True) if not ok]
        right = [not f for f, ok in zip(flagged, outcomes, strict=True) if ok]
        a_err = sum(wrong) / len(wrong) if wrong else 0.0
        a_cor = sum(right) / len(right) if right else 0.0
        f1 = 2 * a_err * a_cor / (a_err + a_cor) if a_err + a_cor else 0.0
        if f1 > best_f1 + 1e-9:
            best, best_f1 = head["b"] + shift, f1
    return best


def _labelled_steps(labels: Sequence[float | None], after_error: str) -> list[tuple[int, float]]:
    """(step index, label) pairs that train, per ``after_error`` (drop | keep | as-is)."""
    out: list[tuple[int, float]] = []
    seen_error = False
    for i, v in enumerate(labels):
        if seen_error and after_error == "drop":
            break
        if seen_error and after_error == "keep":
            out.append((i, 0.0))
            continue
        if v is None:
            continue
        out.append((i, float(v)))
        seen_error = seen_error or v < 0.5
    return out


def _first_error_bias(
    head: dict[str, Any], records: Sequence[Solution], feats: list[list[list[float] | None]]
) -> float:
    """The head's bias shifted to the value that maximises first-error F1 (threshold 0.5) on the
    training records themselves: the logistic fit calibrates single steps, the benchmark judges
    each solution's first step below 0.5."""
    from prmkit.evaluate.processbench import processbench_metrics
    from prmkit.records import first_error_of

    gold = [first_error_of(r.labels or []) for r in records]
    z = [[None if f is None else _logit(apply_head(f, head)) for f in row] for row in feats]
    best, best_f1 = head["b"], -1.0
    for shift in [x / 4 for x in range(-16, 17)]:
        preds = [next((i for i, v in enumerate(row) if v is not None and v + shift < 0), -1) for row in z]
        f1 = processbench_metrics(preds, gold)["f1"]
        if f1 > best_f1 + 1e-9:
            best, best_f1 = head["b"] + shift, f1
    return best


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def step_features_of(
    model: Any,
    tokenizer: Any,
    records: Sequence[Solution],
    max_length: int | None,
    batch_size: int = 16,
    span: str = "agent",
) -> list[list[list[float] | None]]:
    """Features of every step of ``records`` over each step's ``span`` tokens
    (:data:`prmkit.scorers.likelihood.SPANS`; sorted by length into batches; input order kept)."""
    fmt = get_format("lm-likelihood")
    rendered = render_many(
        [r.problem for r in records], [r.steps for r in records], fmt, tokenizer, max_length
    )
    digits = digit_mask(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(rendered)), key=lambda i: len(rendered[i]))
    out: list[list[list[float] | None]] = [[] for _ in rendered]
    pieces = _Pieces(tokenizer)
    for k in range(0, len(order), batch_size):
        idx = [i for i in order[k : k + batch_size] if len(rendered[i])]
        if idx:
            for i, f in zip(
                idx,
                batch_features(model, tokenizer, [rendered[i] for i in idx], digits, pad, span, pieces),
                strict=True,
            ):
                out[i] = f
    return out


def train_likelihood(
    cfg: Any, model: Any, tokenizer: Any, records: Sequence[Solution], out: Path, span: str = "agent"
) -> dict[str, Any]:
    """Fit the head on ``records``' labels and save model + tokenizer + ``prmkit.json`` to ``out``.
    ``span``: which tokens of a step the features read (kept in the head;
    :data:`prmkit.scorers.likelihood.SPANS`). Returns ``{"head", "n_steps", "seconds", "tokens"}``."""
    if span not in SPANS:
        raise PrmkitError(f"unknown likelihood span {span!r}; known: {', '.join(SPANS)}", field="span")
    t0 = time.perf_counter()
    model.eval()
    feats = step_features_of(model, tokenizer, records, cfg.max_length, span=span)
    x: list[list[float]] = []
    y: list[float] = []
    last: list[bool] = []
    loss = getattr(cfg, "loss", "bce")
    outcome = loss in ("freeprm", "outcome-bce")
    labels_of = [outcome_pseudo_labels(r) if outcome else (r.labels or []) for r in records]
    for labels, f in zip(labels_of, feats, strict=True):
        for i, v in _labelled_steps(labels, cfg.after_error):
            if f[i] is not None:
                x.append(f[i])  # type: ignore[arg-type]
                y.append(v)
                last.append(i == len(labels) - 1)
    if not x:
        raise PrmkitError("no record has a trainable step label", file=cfg.data)
    if loss == "freeprm":
        head = fit_head_freeprm(x, y, buffer_factor=getattr(cfg, "freeprm_buffer_factor", FREEPRM_BETA),
                                seed=getattr(cfg, "seed", 0), last=last)  # fmt: skip
    else:
        head = fit_head(x, y)
    head["span"] = span
    if outcome:  # no step labels: the bias comes from the outcomes
        head["b"] = _outcome_bias(head, [bool(lab and lab[0] >= 0.5) for lab in labels_of], feats)
    else:
        head["b"] = _first_error_bias(head, records, feats)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return {"head": head, "n_steps": len(x), "seconds": time.perf_counter() - t0,
            "tokens": sum(len(r.problem) for r in records)}  # fmt: skip


def likelihood_scorer(
    model: Any, tokenizer: Any, head: dict[str, Any], max_length: int | None = None
) -> LikelihoodScorer:
    """The scorer ``prmkit score`` builds for a saved ``lm-likelihood`` PRM, from an in-memory model."""
    return LikelihoodScorer(
        model, tokenizer, "lm-likelihood", meta={"likelihood_head": head}, max_length=max_length
    )
