"""Confidence intervals for comparisons of two methods on the same problems.

Example:
    >>> paired_bootstrap([1, 1, 1, 0], [1, 1, 1, 0], n_boot=100)
    (0.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prmkit.errors import PrmkitError


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a) - mean(b)`` where ``a[i]`` and ``b[i]`` are two
    methods' outcomes on the same problem ``i`` (problems are resampled with replacement, pairs
    kept together). Deterministic in ``seed``.

    Example:
        >>> paired_bootstrap([1, 1, 1, 1], [0, 0, 0, 0], n_boot=50)   # every resample differs by 1
        (1.0, 1.0)
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise PrmkitError(f"need two equal-length non-empty sequences, got {x.shape} and {y.shape}")
    if not 0.0 < confidence < 1.0:
        raise PrmkitError("confidence must be in (0, 1)", field="confidence")
    diff = x - y
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(n_boot, diff.size))
    means = diff[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)
