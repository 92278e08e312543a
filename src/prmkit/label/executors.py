"""Executors: run labelling batches locally or as Ray tasks, with identical results.

The executors are shared with scoring and search and live in :mod:`prmkit.executors`; this
module re-exports them under their labelling names.

A batch task is the pure function :func:`prmkit.label.runner.label_batch` of
``(spec, batch_id, items)``; the executor only decides where it runs. Results come back to the
driver, which writes each batch's shard atomically as soon as it arrives (in any order).

Example:
    >>> get_executor("local").name
    'local'
"""

from __future__ import annotations

from prmkit.executors import BatchFn, LocalExecutor, RayExecutor, get_executor

__all__ = ["BatchFn", "LocalExecutor", "RayExecutor", "get_executor"]
