"""Executors: run batches of a stage locally or as Ray tasks, with identical results; and sharded
JSONL outputs (a manifest, one shard per batch, ``--resume``) shared by scoring and search.

A batch task is a pure function ``fn(spec, batch_id, items) -> {"batch": id, "lines": [...], ...}``
(labelling: :func:`prmkit.label.runner.label_batch`; scoring: :func:`prmkit.scorers.runner.score_shard`;
search: :func:`prmkit.search.run.search_shard`); the executor only decides where it runs. Results
come back to the driver, which writes each batch's shard atomically as soon as it arrives (in any
order). :func:`run_sharded` then concatenates the shards in input order into the output file, so
the file is byte for byte what the local, unsharded run writes.

Layout of a sharded run with output ``OUT``::

    OUT.shards/manifest.json          identity (config, input hash), shard count and size, done ids
    OUT.shards/shard-00000.jsonl      the output lines of shard 0 (input order)
    OUT                               written last: the shards, concatenated in order

A shard exists only when complete (temp file + rename), so ``resume=True`` redoes only the shards
that are missing; a manifest whose identity differs from the run's is an error naming the field.

Multi-node: start Ray on the head node (``ray start --head``), attach each worker node
(``ray start --address HEAD:6379``) and run the stage on the head node with ``--executor ray
--ray-address auto``; see ``docs/scoring.md`` and ``docs/search.md``.

Example:
    >>> get_executor("local").name
    'local'
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "o.jsonl"
    >>> def upper(spec, bid, items):
    ...     return {"batch": bid, "lines": [spec["prefix"] + x.upper() for x in items]}
    >>> run_sharded(upper, {"prefix": "#"}, list("abcde"), out=out, identity={"v": 1}, shard_size=2)
    {'shards': 3, 'shards_run': 3, 'items_run': 5, 'lines': 5}
    >>> out.read_text().split()
    ['#A', '#B', '#C', '#D', '#E']
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import write_text_atomic

BatchFn = Callable[[dict[str, Any], int, list[Any]], dict[str, Any]]

MANIFEST = "manifest.json"
SHARDS_FORMAT = "prmkit-shards-1"


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
    large input is not shipped to the cluster at once; ``task_options`` go to
    ``ray.remote`` (e.g. ``{"num_gpus": 1}`` so each task holds one GPU). A cluster started here
    is shut down at the end; one initialised by the caller is left running.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        max_in_flight: int = 64,
        task_options: dict[str, Any] | None = None,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.max_in_flight = max_in_flight
        self.task_options = dict(task_options or {})

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
            task = ray.remote(**self.task_options)(_ray_task) if self.task_options else ray.remote(_ray_task)
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


def get_executor(
    name: str,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    task_options: dict[str, Any] | None = None,
) -> Any:
    """``local`` or ``ray``; anything else is an error."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address=address, num_cpus=num_cpus, task_options=task_options)
    raise PrmkitError(f"unknown executor '{name}'; known: local, ray", field="executor")


# ---------------------------------------------------------------- sharded JSONL outputs


def shards_dir(out: str | os.PathLike) -> Path:
    """Where the shards of output ``out`` go: ``OUT.shards/``."""
    return Path(str(out) + ".shards")


def shard_path(out: str | os.PathLike, bid: int) -> Path:
    return shards_dir(out) / f"shard-{bid:05d}.jsonl"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (the input's identity in a manifest)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_sharded(
    fn: BatchFn,
    spec: dict[str, Any],
    items: Sequence[Any],
    *,
    out: str | os.PathLike,
    identity: dict[str, Any],
    shard_size: int,
    executor: Any = None,
    resume: bool = False,
    on_shard: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Run ``fn`` over ``items`` in shards of ``shard_size`` through ``executor`` (default local),
    then write ``out`` as the concatenation of the shards (see the module docstring).

    ``identity`` (JSON) is stored in the manifest; a resumed run must have the same one. Without
    ``resume`` an existing shard directory is an error. ``on_shard(n_items)`` is called as each
    shard lands (progress). Returns counts: ``shards``, ``shards_run``, ``items_run``, ``lines``.
    """
    if shard_size < 1:
        raise PrmkitError(f"must be >= 1, got {shard_size}", field="shard_size")
    sdir = shards_dir(out)
    mpath = sdir / MANIFEST
    ident = json.loads(json.dumps(identity, sort_keys=True, default=str))
    if sdir.exists() and not resume:
        raise PrmkitError("shards of an earlier run exist; pass --resume to continue it", file=str(sdir))
    if mpath.exists():
        old = json.loads(mpath.read_text(encoding="utf-8"))
        for k in sorted(set(ident) | set(old.get("identity", {}))):
            if old.get("identity", {}).get(k) != ident.get(k):
                raise PrmkitError(
                    f"differs from the run being resumed ({old.get('identity', {}).get(k)!r} vs {ident.get(k)!r})",
                    file=str(mpath),
                    field=k,
                )
        if old.get("shard_size") != shard_size:
            raise PrmkitError("differs from the run being resumed", file=str(mpath), field="shard_size")
    sdir.mkdir(parents=True, exist_ok=True)
    for tmp in glob.glob(str(sdir / ".tmp-*")) + glob.glob(str(sdir / "*.tmp-*")):
        os.remove(tmp)  # a write interrupted by a kill; that shard is redone
    batches = [(b, list(items[i : i + shard_size])) for b, i in enumerate(range(0, len(items), shard_size))]
    completed = {b for b, _ in batches if shard_path(out, b).exists()}
    manifest: dict[str, Any] = {
        "format": SHARDS_FORMAT,
        "identity": ident,
        "shard_size": shard_size,
        "shards": len(batches),
        "items": len(items),
        "executor": getattr(executor, "name", "local"),
        "completed": sorted(completed),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomic(mpath, json.dumps(manifest, indent=1, ensure_ascii=False), durable=True)
    todo = [(b, it) for b, it in batches if b not in completed]

    def on_done(res: dict[str, Any]) -> None:
        bid = int(res["batch"])
        write_text_atomic(shard_path(out, bid), "".join(line + "\n" for line in res["lines"]), durable=True)
        completed.add(bid)
        manifest["completed"] = sorted(completed)
        write_text_atomic(mpath, json.dumps(manifest, indent=1, ensure_ascii=False))
        if on_shard is not None:
            on_shard(len(batches[bid][1]))

    (executor or LocalExecutor()).run(fn, spec, todo, on_done)
    text = "".join(shard_path(out, b).read_text(encoding="utf-8") for b, _ in batches)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, text, durable=True)
    return {
        "shards": len(batches),
        "shards_run": len(todo),
        "items_run": sum(len(it) for _, it in todo),
        "lines": text.count("\n"),
    }
