"""Token-budget batching shared by the neural scorer families.

A batch is built from length-sorted inputs: it holds as many solutions as fit a budget of
*padded* tokens (``n_rows * longest_row <= batch_tokens``), and, optionally, only solutions whose
length is within ``max_pad_fraction`` of the batch's longest one. Results are put back in the
input order by the caller (:func:`plan_batches` returns input indices).

Why two knobs: on a GPU a big padded batch is nearly free (the device is under-used by one
sequence), so the default budget is large and padding is allowed. On a CPU one sequence already
runs near the matmul peak and padding tokens are pure waste (padded batches were measured 2x
slower than one solution per forward), so the CPU default only groups solutions of exactly the
same length (no padding, so no attention mask: the model keeps its plain causal path) and keeps
the budget small: it can never do more work than one-per-forward.

Example:
    >>> plan_batches([5, 100, 98, 6, 50], batch_tokens=256, max_pad_fraction=0.2)
    [[1, 2], [4], [3, 0]]
    >>> plan_batches([5, 100, 98], batch_tokens=1)
    [[1], [2], [0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: defaults per device type: (batch_tokens, max_pad_fraction)
CPU_DEFAULTS = (2048, 0.0)
GPU_DEFAULTS = (65536, 1.0)


@dataclass(frozen=True)
class BatchPolicy:
    """How solutions are grouped into forward passes.

    ``batch_tokens``: budget of padded tokens per forward (a solution longer than the budget
    still gets its own forward). ``max_pad_fraction``: a solution joins a batch only when it is at
    least ``(1 - max_pad_fraction)`` times as long as the batch's longest solution.
    ``max_rows``: cap on solutions per forward (``None``: no cap).

    Example:
        >>> BatchPolicy.for_device("cpu").max_pad_fraction
        0.0
        >>> BatchPolicy.for_device("cuda", batch_tokens=1000).batch_tokens
        1000
    """

    batch_tokens: int = CPU_DEFAULTS[0]
    max_pad_fraction: float = CPU_DEFAULTS[1]
    max_rows: int | None = None

    @classmethod
    def for_device(
        cls,
        device: Any,
        batch_tokens: int | None = None,
        max_pad_fraction: float | None = None,
        max_rows: int | None = None,
    ) -> BatchPolicy:
        """Defaults for the device type (``cpu`` vs anything else), with explicit overrides."""
        kind = str(device).split(":")[0]
        tokens, pad = CPU_DEFAULTS if kind == "cpu" else GPU_DEFAULTS
        return cls(
            batch_tokens=int(batch_tokens) if batch_tokens is not None else tokens,
            max_pad_fraction=float(max_pad_fraction) if max_pad_fraction is not None else pad,
            max_rows=max_rows,
        )


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


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    if device not in (None, "auto"):
        return str(device)
    import torch

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
    import torch

    if dtype is None or dtype == "auto":
        return torch.float32 if str(device).startswith("cpu") else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    name = _DTYPES.get(str(dtype).lower().replace("torch.", ""))
    if name is None:
        from prmkit.errors import PrmkitError

        raise PrmkitError(f"unknown dtype {dtype!r}; use one of bf16, fp16, fp32, auto", field="dtype")
    return getattr(torch, name)
