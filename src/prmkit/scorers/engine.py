"""Token-budget batching shared by the neural scorer families.

A batch is built from length-sorted inputs (:func:`plan_batches` returns input indices; the
caller puts results back in the input order). Two ways to decide which solutions share a
forward pass:

- **cost-based (the CPU default)**: the time of one forward is modelled as
  ``overhead + batch_factor * rows * (token * longest + attention * longest**2)`` (a single
  row: ``batch_factor`` 1). The constants are measured once for the loaded model on its device
  (:func:`measure_cost`: a few timed single-row forwards at three lengths and one padded
  batch) and :func:`plan_batches_by_cost` picks the grouping of the length-sorted solutions that
  minimises the predicted total time. So padding is used exactly when it is predicted to pay:
  for a tiny model whose forward is mostly fixed Python overhead, solutions of different lengths
  share a padded forward; for a ~135M model on a CPU, where one sequence already runs near the
  matmul peak and padding tokens are pure waste, the plan is (nearly) one solution per forward,
  with equal-length solutions grouped. ``batch_tokens`` still caps the padded tokens of a forward.
- **fixed knobs** (explicit ``batch_tokens`` / ``max_pad_fraction``, and the GPU default): a
  batch holds as many solutions as fit a budget of *padded* tokens (``n_rows * longest_row <=
  batch_tokens``) and, optionally, only solutions whose length is within ``max_pad_fraction`` of
  the batch's longest one. On a GPU a big padded batch is nearly free, so the default budget is
  large and padding is allowed. Explicit settings always win over the cost model.

Example:
    >>> plan_batches([5, 100, 98, 6, 50], batch_tokens=256, max_pad_fraction=0.2)
    [[1, 2], [4], [3, 0]]
    >>> plan_batches([5, 100, 98], batch_tokens=1)
    [[1], [2], [0]]
    >>> overhead_bound = CostModel(overhead_s=1e-3, token_s=1e-7)
    >>> plan_batches_by_cost([5, 100, 98, 6, 50], overhead_bound)
    [[1, 2, 4, 3, 0]]
    >>> compute_bound = CostModel(overhead_s=1e-3, token_s=1e-3)
    >>> plan_batches_by_cost([5, 100, 98, 6, 50, 50], compute_bound)
    [[1], [2], [4, 5], [3], [0]]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from prmkit.errors import PrmkitError

#: defaults per device type: (batch_tokens, max_pad_fraction)
CPU_DEFAULTS = (2048, 0.0)
GPU_DEFAULTS = (65536, 1.0)
#: lengths (tokens) of the timed single-row forwards of :func:`measure_cost`
CALIBRATION_LENGTHS = (16, 128, 512)


@dataclass(frozen=True)
class CostModel:
    """Predicted seconds of one forward pass over ``rows`` solutions padded to ``longest`` tokens:

    ``overhead_s + f * rows * (token_s * longest + attention_s * longest**2)`` with ``f = 1``
    for one row and ``batch_factor`` for more (>= 1: a padded, masked batch never computes
    faster per token than single rows, which keeps the planner conservative).

    Example:
        >>> c = CostModel(overhead_s=0.002, token_s=1e-5)
        >>> round(c.forward_s(1, 100), 6), round(c.forward_s(4, 100), 6)
        (0.003, 0.006)
    """

    overhead_s: float
    token_s: float
    attention_s: float = 0.0
    batch_factor: float = 1.0
    #: a forward with pad tokens is planned only when it is predicted to beat the alternative by
    #: this fraction of its own time (guards against a calibration made noisy by other jobs)
    pad_margin: float = 0.2
    #: False while ``batch_factor`` is a placeholder (only single rows were timed yet)
    batch_measured: bool = True

    def forward_s(self, rows: int, longest: int) -> float:
        """Predicted seconds of one forward over ``rows`` rows of ``longest`` padded tokens."""
        f = 1.0 if rows == 1 else self.batch_factor
        return self.overhead_s + f * rows * (self.token_s * longest + self.attention_s * longest * longest)


@dataclass(frozen=True)
class BatchPolicy:
    """How solutions are grouped into forward passes.

    ``batch_tokens``: budget of padded tokens per forward (a solution longer than the budget
    still gets its own forward). ``max_pad_fraction``: a solution joins a batch only when it is at
    least ``(1 - max_pad_fraction)`` times as long as the batch's longest solution (fixed-knob
    planning only). ``max_rows``: cap on solutions per forward (``None``: no cap). ``auto``: plan
    with a measured :class:`CostModel` when one is given to :meth:`plan` (the CPU default when
    neither ``batch_tokens`` nor ``max_pad_fraction`` is set explicitly).

    Example:
        >>> BatchPolicy.for_device("cpu").max_pad_fraction
        0.0
        >>> BatchPolicy.for_device("cpu").auto, BatchPolicy.for_device("cpu", max_pad_fraction=0.1).auto
        (True, False)
        >>> BatchPolicy.for_device("cuda", batch_tokens=1000).batch_tokens
        1000
    """

    batch_tokens: int = CPU_DEFAULTS[0]
    max_pad_fraction: float = CPU_DEFAULTS[1]
    max_rows: int | None = None
    auto: bool = False

    @classmethod
    def for_device(
        cls,
        device: Any,
        batch_tokens: int | None = None,
        max_pad_fraction: float | None = None,
        max_rows: int | None = None,
        auto: bool | None = None,
    ) -> BatchPolicy:
        """Defaults for the device type (``cpu`` vs anything else), with explicit overrides.

        ``auto`` (default: on a CPU when neither ``batch_tokens`` nor ``max_pad_fraction`` is
        given) turns on cost-based planning.
        """
        kind = str(device).split(":")[0]
        tokens, pad = CPU_DEFAULTS if kind == "cpu" else GPU_DEFAULTS
        if auto is None:
            auto = kind == "cpu" and batch_tokens is None and max_pad_fraction is None
        return cls(
            batch_tokens=int(batch_tokens) if batch_tokens is not None else tokens,
            max_pad_fraction=float(max_pad_fraction) if max_pad_fraction is not None else pad,
            max_rows=max_rows,
            auto=bool(auto),
        )

    def plan(self, lengths: Sequence[int], cost: CostModel | None = None) -> list[list[int]]:
        """Batches for these lengths: cost-based when ``auto`` and a cost model is given,
        otherwise the fixed knobs.

        Example:
            >>> p = BatchPolicy.for_device("cpu")
            >>> p.plan([10, 9]), p.plan([10, 9], CostModel(overhead_s=1.0, token_s=1e-6))
            ([[0], [1]], [[0, 1]])
        """
        if self.auto and cost is not None:
            return plan_batches_by_cost(lengths, cost, self.batch_tokens, self.max_rows)
        return plan_batches(lengths, self.batch_tokens, self.max_pad_fraction, self.max_rows)


def plan_batches(
    lengths: Sequence[int],
    batch_tokens: int = CPU_DEFAULTS[0],
    max_pad_fraction: float = 1.0,
    max_rows: int | None = None,
) -> list[list[int]]:
    """Group input indices into batches, longest first (an out-of-memory shows up at once).

    Every index appears in exactly one batch. Within a batch indices are in descending length.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order:
        n = lengths[i]
        if cur:
            fits_budget = (len(cur) + 1) * longest <= batch_tokens
            similar = n >= (1.0 - max_pad_fraction) * longest
            fits_rows = max_rows is None or len(cur) < max_rows
            if fits_budget and similar and fits_rows:
                cur.append(i)
                continue
            batches.append(cur)
        cur, longest = [i], n
    if cur:
        batches.append(cur)
    return batches


def plan_batches_by_cost(
    lengths: Sequence[int],
    cost: CostModel,
    batch_tokens: int | None = CPU_DEFAULTS[0],
    max_rows: int | None = None,
) -> list[list[int]]:
    """The grouping of the length-sorted solutions with the least predicted total time.

    Exact over groupings into runs of the descending-length order (dynamic programming,
    ``O(n * rows per batch)``); a group must fit ``batch_tokens`` padded tokens (a single
    solution always fits) and ``max_rows``. Ties go to fewer padded tokens. Same output shape
    as :func:`plan_batches`: every index once, longest batch first, descending within a batch.

    Example:
        >>> plan_batches_by_cost([7, 7, 7], CostModel(overhead_s=1e-3, token_s=1e-3))
        [[0, 1, 2]]
        >>> plan_batches_by_cost([7, 7, 7], CostModel(overhead_s=1e-3, token_s=1e-3), max_rows=2)
        [[0, 1], [2]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    sl = [lengths[i] for i in order]
    n = len(sl)
    inf = float("inf")
    best = [0.0] + [inf] * n
    start = [0] * (n + 1)
    for j in range(n):  # best[j + 1]: groups covering sl[0..j]
        i = j
        while i >= 0:
            rows = j - i + 1
            if rows > 1 and (
                (batch_tokens is not None and rows * sl[i] > batch_tokens)
                or (max_rows is not None and rows > max_rows)
            ):
                break
            t = cost.forward_s(rows, sl[i])
            if sl[i] != sl[j]:  # holds pad tokens
                t *= 1.0 + cost.pad_margin
            c = best[i] + t
            if c < best[j + 1] - 1e-12:
                best[j + 1], start[j + 1] = c, i
            i -= 1
    batches: list[list[int]] = []
    j = n
    while j > 0:
        i = start[j]
        batches.append(order[i:j])
        j = i
    batches.reverse()
    return batches


def measure_cost(
    forward: Callable[[list[int]], Any],
    max_length: int | None = None,
    *,
    lengths: Sequence[int] = CALIBRATION_LENGTHS,
    batch_tokens: int = CPU_DEFAULTS[0],
    reps: int = 5,
    slow_s: float = 0.25,
    batch: bool = True,
) -> CostModel:
    """Fit a :class:`CostModel` for a model on its device from a few timed forwards.

    ``forward(row_lengths)`` must run one forward pass over solutions of those lengths (padded
    as the scorer pads). Single-row lengths are probed in increasing order (at least two), longer
    ones skipped once one forward takes over ``slow_s / 4`` seconds (a big model: its attention term is then
    small and the calibration stays cheap). ``batch=False`` stops there (``batch_factor`` left a
    placeholder, ``batch_measured=False``; see :func:`measure_batch_factor`). Then one padded batch at the longest measured length, as
    many rows as ``batch_tokens`` allows (2 to 8, a quarter of them shorter; 2 for a slow model),
    measures ``batch_factor``: a big padded batch can run slower per token than single rows
    (cache misses, masked attention), and the planner must know it. Every configuration is timed
    in ``reps`` interleaved rounds and its best time kept (one round for a slow model). Typical cost: ~0.1 s for a tiny model, a few seconds for a 135M model on a CPU.

    Example (a fake forward whose time is 1 ms + 10 us per row-token)::

        measure_cost(lambda ls: time.sleep(1e-3 + 1e-5 * len(ls) * max(ls)))
        # CostModel(overhead_s~0.001, token_s~1e-05, attention_s~0, batch_factor~1.0)
    """

    def timed(row_lengths: list[int]) -> float:
        t0 = time.perf_counter()
        forward(row_lengths)
        return time.perf_counter() - t0

    lens = sorted({max(1, min(int(x), max_length or int(x))) for x in lengths})
    forward([lens[0]])  # warm-up (lazy initialisation, allocator)
    configs: list[list[int]] = []
    first: list[float] = []
    for L in lens:  # probe: longer lengths only while a forward stays cheap
        configs.append([L])
        first.append(timed([L]))
        if first[-1] > slow_s / 4 and len(configs) >= 2:
            break
    top = configs[-1][0]
    slow = first[-1] > slow_s / 4
    if batch:
        configs.append(_batch_rows(top, batch_tokens, slow))
        first.append(timed(configs[-1]))
    # rounds over all configurations (best of each kept): a burst of load from other jobs then
    # hits one sample of each, not every sample of one
    best = list(first)
    for _ in range(0 if slow else max(0, reps - 1)):
        for k, rows in enumerate(configs):
            best[k] = min(best[k], timed(rows))
    n_single = len(configs) - (1 if batch else 0)
    points = [(rows[0], t) for rows, t in zip(configs[:n_single], best[:n_single], strict=True)]
    a, b, c = _fit(points)
    cost = CostModel(overhead_s=a, token_s=b, attention_s=c, batch_measured=False)
    if not batch:
        return cost
    return _with_batch_factor(cost, configs[-1], best[-1])


def measure_batch_factor(
    forward: Callable[[list[int]], Any],
    cost: CostModel,
    length: int,
    *,
    batch_tokens: int = CPU_DEFAULTS[0],
    reps: int = 5,
    slow_s: float = 0.25,
) -> CostModel:
    """``cost`` with ``batch_factor`` measured by one padded batch at ``length`` tokens (see
    :func:`measure_cost`; for a slow model 2 rows of at most 128 tokens, timed once).

    Example (a fake forward: batches cost 1.5x per token)::

        measure_batch_factor(fake_forward, CostModel(1e-3, 1e-5), 256)   # batch_factor ~1.5
    """
    slow = cost.forward_s(1, length) > slow_s / 4
    if slow:
        length = min(length, 128)
    rows = _batch_rows(max(1, int(length)), batch_tokens, slow)
    forward(rows)  # warm-up of this shape
    best = float("inf")
    for _ in range(1 if slow else max(1, reps)):
        t0 = time.perf_counter()
        forward(rows)
        best = min(best, time.perf_counter() - t0)
    return _with_batch_factor(cost, rows, best)


def _batch_rows(top: int, batch_tokens: int, slow: bool) -> list[int]:
    n_rows = 2 if slow else max(2, min(8, batch_tokens // max(top, 1)))
    return [top] * (n_rows - n_rows // 4) + [max(1, 3 * top // 4)] * (n_rows // 4)


def _with_batch_factor(cost: CostModel, rows: list[int], seconds: float) -> CostModel:
    top = max(rows)
    compute = len(rows) * (cost.token_s * top + cost.attention_s * top * top)
    factor = (seconds - cost.overhead_s) / compute if compute > 0 else 1.0
    return replace(cost, batch_factor=min(max(factor, 1.0), 4.0), batch_measured=True)


def _fit(points: Sequence[tuple[int, float]]) -> tuple[float, float, float]:
    """(overhead, per-token, per-token^2) through 1-3 (length, seconds) points, all >= 0."""
    if len(points) == 1:
        return 0.0, points[0][1] / points[0][0], 0.0
    if len(points) >= 3:
        (x1, y1), (x2, y2), (x3, y3) = points[:3]
        # divided differences of the quadratic through the three points
        d12, d23 = (y2 - y1) / (x2 - x1), (y3 - y2) / (x3 - x2)
        c = (d23 - d12) / (x3 - x1)
        b = d12 - c * (x1 + x2)
        a = y1 - b * x1 - c * x1 * x1
        if c >= 0 and b >= 0 and a >= 0:
            return a, b, c
    # straight line through the first and last point
    (x1, y1), (x2, y2) = points[0], points[-1]
    b = max((y2 - y1) / (x2 - x1), 0.0)
    a = max(y1 - b * x1, 0.0)
    return a, b, 0.0


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    if device not in (None, "auto"):
        return str(device)
    return "cuda" if torch.cuda.is_available() else "cpu"


_DTYPES = {
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
}


def resolve_dtype(dtype: Any, device: str) -> Any:
    """A torch dtype from a name (``bf16``, ``fp16``, ``fp32``, ``auto``) or a dtype.

    ``None``/``auto``: bfloat16 on a GPU, float32 on a CPU.

    Example:
        >>> str(resolve_dtype(None, "cpu"))
        'torch.float32'
        >>> str(resolve_dtype("bf16", "cpu"))
        'torch.bfloat16'
    """
    if dtype is None or dtype == "auto":
        return torch.float32 if str(device).startswith("cpu") else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    name = _DTYPES.get(str(dtype).lower().replace("torch.", ""))
    if name is None:
        raise PrmkitError(f"unknown dtype {dtype!r}; use one of bf16, fp16, fp32, auto", field="dtype")
    return getattr(torch, name)
