"""Executors: run labelling batches locally or as Ray tasks, with identical results.

A batch task is the pure function :func:`prmkit.label.runner.label_batch` of
``(spec, batch_id, items)``; the executor only decides where it runs. Results come back to the
driver, which writes each batch's shard atomically as soon as it arrives (in any order).

Example:
    >>> get_executor("local").name
    'local'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prmkit.errors import PrmkitError

BatchFn = Callable[[dict[str, Any], int, list[Any]], dict[str, Any]]


class LocalExecutor:
    """Runs batches one after another in this process."""

    name = "local"

    def run(
        self,
        fn: BatchFn,
        spec: dict[str, Any],
        batches: Sequence[tuple[int, list[Any]]],
        on_done: Callable[[dict[str, Any]], None],
    ) -> None:
        for bid, items in batches:
            on_done(fn(spec, bid, items))


def _ray_task(fn: BatchFn, spec: dict[str, Any], bid: int, items: list[Any]) -> dict[str, Any]:
    return fn(spec, bid, items)


class RayExecutor:
    """Runs batches as Ray tasks (``ray.init(address)`` unless Ray is already initialised).

    ``num_cpus`` bounds a locally started cluster; ``max_in_flight`` bounds queued tasks so a
    large input is not shipped to the cluster at once. A cluster started here is shut down at
    the end; one initialised by the caller is left running.
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, num_cpus: int | None = None, max_in_flight: int = 64
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.max_in_flight = max_in_flight

    def run(
        self,
        fn: BatchFn,
        spec: dict[str, Any],
        batches: Sequence[tuple[int, list[Any]]],
        on_done: Callable[[dict[str, Any]], None],
    ) -> None:
        try:
            import ray
        except ImportError:
            raise PrmkitError("--executor ray needs the 'ray' extra: pip install 'prmkit[ray]'") from None
        started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            elif self.num_cpus:
                kwargs["num_cpus"] = self.num_cpus
            ray.init(**kwargs)
            started = True
        try:
            task = ray.remote(_ray_task)
            fn_ref = ray.put(fn)
            spec_ref = ray.put(spec)
            todo = list(batches)
            pending: list[Any] = []
            while todo or pending:
                while todo and len(pending) < self.max_in_flight:
                    bid, items = todo.pop(0)
                    pending.append(task.remote(fn_ref, spec_ref, bid, items))
                done, pending = ray.wait(pending, num_returns=1)
                on_done(ray.get(done[0]))
        finally:
            if started:
                ray.shutdown()


def get_executor(name: str, *, address: str | None = None, num_cpus: int | None = None) -> Any:
    """``local`` or ``ray``; anything else is an error."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address=address, num_cpus=num_cpus)
    raise PrmkitError(f"unknown executor '{name}'; known: local, ray", field="executor")
