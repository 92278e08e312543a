"""Calibration of PRM scores (docs/methods.md#g-calibration): ECE, Brier, reliability diagrams, quantile calibration.

- :func:`ece`, :func:`brier`, :func:`reliability_diagram`: scores in [0, 1] against labels
  (hard 0/1 or soft Monte Carlo values in [0, 1]).
- :func:`pinball_loss`: the quantile (pinball) loss of G1 (Park et al., arXiv 2506.09338).
- :class:`QuantileCalibrator`: a **post-hoc** analogue of G1. The paper fine-tunes a quantile head
  (LoRA) on Monte Carlo success estimates from the deployment policy; this class instead fits,
  per quantile level ``q_m`` (default 0.1/0.5/0.9), a monotone piecewise-linear map from the
  PRM's score to the empirical ``q_m``-quantile of the target within score bins (isotonic by
  pool-adjacent-violators, quantiles kept non-crossing). ``fit`` / ``apply`` / ``to_dict`` /
  ``save`` / ``load``: serialisable as JSON, no model needed.
- :func:`n_ias`: the instance-adaptive sample count of G2.
- :func:`auroc`: ranking quality of step scores (positives vs negatives), Mann-Whitney form.

Example:
    >>> round(ece([0.9, 0.9, 0.1, 0.1], [1, 0, 0, 0], n_bins=10), 3)
    0.25
    >>> brier([1.0, 0.0], [1, 1])
    0.5
    >>> round(pinball_loss([0.5, 0.6, 0.7], 0.4, [0.1, 0.5, 0.9]), 4)
    0.0733
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError


def _pairs(probs: Sequence[float | None], labels: Sequence[float | None]) -> tuple[list[float], list[float]]:
    if len(probs) != len(labels):
        raise PrmkitError(f"{len(probs)} scores for {len(labels)} labels")
    ps, ys = [], []
    for p, y in zip(probs, labels, strict=True):
        if p is None or y is None:
            continue
        if not 0.0 <= p <= 1.0:
            raise PrmkitError(
                f"score {p} is outside [0, 1]: calibrate probabilities (map logits with a sigmoid)"
            )
        ps.append(float(p))
        ys.append(float(y))
    return ps, ys


def reliability_diagram(
    probs: Sequence[float | None], labels: Sequence[float | None], n_bins: int = 10
) -> list[dict[str, Any]]:
    """Equal-width bins on [0, 1]: ``lo, hi, count, mean_score, mean_label`` (``None`` if empty).

    ``None`` scores or labels are skipped.

    Example:
        >>> [b["count"] for b in reliability_diagram([0.05, 0.95, 0.97], [0, 1, 1], n_bins=2)]
        [1, 2]
    """
    if n_bins < 1:
        raise PrmkitError("n_bins must be >= 1")
    ps, ys = _pairs(probs, labels)
    sums = [[0, 0.0, 0.0] for _ in range(n_bins)]
    for p, y in zip(ps, ys, strict=True):
        b = min(int(p * n_bins), n_bins - 1)
        sums[b][0] += 1
        sums[b][1] += p
        sums[b][2] += y
    out = []
    for b, (c, sp, sy) in enumerate(sums):
        out.append(
            {
                "lo": b / n_bins,
                "hi": (b + 1) / n_bins,
                "count": c,
                "mean_score": sp / c if c else None,
                "mean_label": sy / c if c else None,
            }
        )
    return out


def ece(probs: Sequence[float | None], labels: Sequence[float | None], n_bins: int = 10) -> float:
    """Expected calibration error: ``sum_b n_b/N * |mean_score_b - mean_label_b|`` (equal-width bins).

    Example:
        >>> ece([0.25, 0.75], [0, 1], n_bins=2)
        0.25
    """
    bins = reliability_diagram(probs, labels, n_bins)
    n = sum(b["count"] for b in bins)
    if n == 0:
        raise PrmkitError("no (score, label) pair to calibrate")
    return sum(b["count"] / n * abs(b["mean_score"] - b["mean_label"]) for b in bins if b["count"])


def brier(probs: Sequence[float | None], labels: Sequence[float | None]) -> float:
    """Mean squared error of the scores against the labels.

    Example:
        >>> brier([0.8, 0.3], [1, 0])
        0.065
    """
    ps, ys = _pairs(probs, labels)
    if not ps:
        raise PrmkitError("no (score, label) pair to calibrate")
    return round(sum((p - y) ** 2 for p, y in zip(ps, ys, strict=True)) / len(ps), 15)


def pinball_loss(pred: Sequence[float], target: float, quantiles: Sequence[float] = (0.1, 0.5, 0.9)) -> float:
    """Mean over quantile levels of ``max((q-1)*u, q*u)`` with ``u = target - pred_q`` (G1).

    Example:
        >>> round(pinball_loss([0.5, 0.6, 0.7], 0.8, [0.1, 0.5, 0.9]), 4)
        0.0733
    """
    if len(pred) != len(quantiles):
        raise PrmkitError(f"{len(pred)} predictions for {len(quantiles)} quantile levels")
    total = 0.0
    for s, q in zip(pred, quantiles, strict=True):
        u = target - s
        total += max((q - 1) * u, q * u)
    return total / len(quantiles)


def n_ias(p: float, confidence: float = 0.99) -> int:
    """Instance-adaptive samples (G2): ``ceil(log(1-C) / log(1-p))``, ``p`` clipped to [1e-4, 1-1e-4].

    Example:
        >>> [n_ias(p) for p in (0.3, 0.6, 0.9, 0.1, 0.05)]
        [13, 6, 2, 44, 90]
    """
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.ceil(math.log(1 - confidence) / math.log(1 - p))


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Area under the ROC curve: P(a positive scores above a negative), ties counting half.

    The Mann-Whitney U statistic divided by ``n_pos * n_neg``, from average ranks (numpy), so
    ``O(n log n)``. 0.5 is chance, 1.0 a perfect ranking; ``None`` when a group is empty. For
    PRM steps: ``positives`` = scores of steps before the first error, ``negatives`` = scores of
    the first wrong steps.

    Example:
        >>> auroc([0.9, 0.8, 0.4], [0.4, 0.1])  # pairs won: 2 + 2 + (0.5 + 1) of 6
        0.9166666666666666
        >>> auroc([0.2], [0.7]), auroc([], [0.7])
        (0.0, None)
    """
    import numpy as np

    pos = np.asarray(positives, dtype=np.float64).reshape(-1)
    neg = np.asarray(negatives, dtype=np.float64).reshape(-1)
    if pos.size == 0 or neg.size == 0:
        return None
    if not (np.isfinite(pos).all() and np.isfinite(neg).all()):
        raise PrmkitError("auroc needs finite scores (drop None/NaN first)")
    values, inverse, counts = np.unique(np.concatenate([pos, neg]), return_inverse=True, return_counts=True)
    avg_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct value
    rank_sum = avg_rank[inverse[: pos.size]].sum()
    u = rank_sum - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))


def _quantile(sorted_vals: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of a sorted non-empty list."""
    pos = q * (len(sorted_vals) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def _pav(y: list[float], w: list[float]) -> list[float]:
    """Weighted isotonic (non-decreasing) regression by pool-adjacent-violators."""
    blocks: list[list[float]] = []  # [value, weight, count]
    for v, wt in zip(y, w, strict=True):
        blocks.append([v, wt, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for v, _, c in blocks:
        out += [v] * int(c)
    return out


@dataclass
class QuantileCalibrator:
    """Monotone score -> quantiles-of-success map (post-hoc G1 analogue; see module doc).

    Example:
        >>> cal = QuantileCalibrator.fit([0.1, 0.2, 0.8, 0.9] * 5, [0.0, 0.1, 0.6, 1.0] * 5, n_bins=2)
        >>> cal.apply(0.85)  # [q10, q50, q90] at a high score
        [0.6, 0.8, 1.0]
        >>> QuantileCalibrator.from_dict(cal.to_dict()) == cal
        True
    """

    quantiles: list[float] = field(default_factory=lambda: [0.1, 0.5, 0.9])
    knots: list[float] = field(default_factory=list)  # score at each knot (bin mean)
    values: list[list[float]] = field(default_factory=list)  # values[m][k]: quantile m at knot k

    @classmethod
    def fit(
        cls,
        scores: Sequence[float],
        targets: Sequence[float],
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_bins: int = 10,
    ) -> QuantileCalibrator:
        """Fit on (PRM score, success target) pairs; bins hold equal numbers of samples."""
        if len(scores) != len(targets):
            raise PrmkitError(f"{len(scores)} scores for {len(targets)} targets")
        pairs = sorted((float(s), float(t)) for s, t in zip(scores, targets, strict=True))
        if not pairs:
            raise PrmkitError("no data to fit the calibrator")
        if any(not 0 < q < 1 for q in quantiles):
            raise PrmkitError("quantile levels must be in (0, 1)")
        n_bins = max(1, min(n_bins, len(pairs)))
        bounds = [round(i * len(pairs) / n_bins) for i in range(n_bins + 1)]
        knots, weights, per_q = [], [], [[] for _ in quantiles]
        for b in range(n_bins):
            chunk = pairs[bounds[b] : bounds[b + 1]]
            if not chunk:
                continue
            knots.append(sum(s for s, _ in chunk) / len(chunk))
            weights.append(float(len(chunk)))
            ts = sorted(t for _, t in chunk)
            for m, q in enumerate(quantiles):
                per_q[m].append(_quantile(ts, q))
        values = [_pav(v, weights) for v in per_q]
        for k in range(len(knots)):  # no crossing quantiles: sort across levels
            col = sorted(values[m][k] for m in range(len(quantiles)))
            for m in range(len(quantiles)):
                values[m][k] = col[m]
        return cls(quantiles=[float(q) for q in quantiles], knots=knots, values=values)

    def apply(self, score: float) -> list[float]:
        """The calibrated quantiles (one per level) for one PRM score (clamped at the ends)."""
        if not self.knots:
            raise PrmkitError("calibrator is not fitted")
        ks = self.knots
        if score <= ks[0]:
            return [round(v[0], 12) for v in self.values]
        if score >= ks[-1]:
            return [round(v[-1], 12) for v in self.values]
        i = next(j for j in range(1, len(ks)) if score <= ks[j])
        t = (score - ks[i - 1]) / (ks[i] - ks[i - 1]) if ks[i] > ks[i - 1] else 1.0
        return [round(v[i - 1] + t * (v[i] - v[i - 1]), 12) for v in self.values]

    def apply_level(self, scores: Sequence[float | None], level: float = 0.5) -> list[float | None]:
        """Calibrated values of one quantile level for many scores (``None`` stays ``None``)."""
        if level not in self.quantiles:
            raise PrmkitError(f"level {level} not fitted (have {self.quantiles})")
        m = self.quantiles.index(level)
        return [None if s is None else self.apply(s)[m] for s in scores]

    def loss(self, scores: Sequence[float], targets: Sequence[float]) -> float:
        """Mean pinball loss on (score, target) pairs."""
        if not scores:
            raise PrmkitError("no data")
        return sum(
            pinball_loss(self.apply(s), t, self.quantiles) for s, t in zip(scores, targets, strict=True)
        ) / len(scores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "quantile_calibrator",
            "quantiles": self.quantiles,
            "knots": self.knots,
            "values": self.values,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantileCalibrator:
        try:
            cal = cls(
                quantiles=list(d["quantiles"]), knots=list(d["knots"]), values=[list(v) for v in d["values"]]
            )
        except (KeyError, TypeError) as e:
            raise PrmkitError(f"not a quantile calibrator: {e}") from None
        if len(cal.values) != len(cal.quantiles) or any(len(v) != len(cal.knots) for v in cal.values):
            raise PrmkitError("quantile calibrator arrays have inconsistent lengths")
        return cal

    def save(self, path: str | os.PathLike) -> Path:
        from prmkit.records import write_text_atomic

        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> QuantileCalibrator:
        p = Path(path)
        if not p.is_file():
            raise PrmkitError("file not found", file=str(p))
        try:
            return cls.from_dict(json.loads(p.read_text(encoding="utf-8")))
        except json.JSONDecodeError as e:
            raise PrmkitError(f"malformed JSON: {e}", file=str(p)) from None
        except PrmkitError as e:
            raise e.located(file=str(p)) from None


def evaluate_calibration(
    probs: Sequence[float | None], labels: Sequence[float | None], n_bins: int = 10
) -> dict[str, Any]:
    """ECE, Brier and reliability-diagram bins of step (or solution) scores against labels.

    Example:
        >>> r = evaluate_calibration([0.25, 0.75], [0, 1], n_bins=2)
        >>> r["ece"], r["brier"], r["n"]
        (0.25, 0.0625, 2)
    """
    ps, ys = _pairs(probs, labels)
    return {
        "benchmark": "calibration",
        "n": len(ps),
        "n_bins": n_bins,
        "ece": ece(ps, ys, n_bins),
        "brier": brier(ps, ys),
        "reliability": reliability_diagram(ps, ys, n_bins),
    }


def calibration_markdown(result: dict[str, Any], title: str = "Calibration") -> str:
    """Markdown summary of :func:`evaluate_calibration`."""
    lines = [
        f"## {title}",
        "",
        f"{result['n']} (score, label) pairs: ECE {result['ece']:.4f} "
        f"({result['n_bins']} equal-width bins), Brier {result['brier']:.4f}",
        "",
    ]
    return "\n".join(lines) + "\n"
