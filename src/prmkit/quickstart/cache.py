"""A stage cache: each stage writes its outputs plus ``done.json`` keyed by a hash of the config
fields it reads and of the keys of the stages it depends on. A rerun with the same key reuses the
stage ("reused"); a changed key (or an unfinished stage) runs it again from an empty directory.

Example:
    >>> import tempfile
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     out: str
    ...     n: int = 3
    >>> d = tempfile.mkdtemp()
    >>> cache = StageCache(C(d), {"a": ("n",)}, {"a": ()}, log=lambda s: None)
    >>> cache.run("a", lambda out: {"twice": 2 * cache.cfg.n}, str)["twice"]
    6
    >>> cache.run("a", lambda out: {"twice": -1}, str)["twice"], cache.timing["a"]["reused"]
    (6, True)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DONE = "done.json"
#: bump when a stage's outputs change meaning, so that old caches are not reused
CACHE_VERSION = 2


def config_hash(obj: Any) -> str:
    """A short, stable hash of a JSON-able object.

    Example:
        >>> config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
        True
    """
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StageCache:
    """Runs stages in order, reusing those whose key is unchanged; records seconds per stage."""

    def __init__(
        self,
        cfg: Any,
        stage_fields: dict[str, tuple[str, ...]],
        deps: dict[str, tuple[str, ...]],
        log: Callable[[str], None],
        extra_key: dict[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.stage_fields = stage_fields
        self.deps = deps
        self.log = log
        self.extra_key = extra_key or {}
        self.keys: dict[str, str] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.timing: dict[str, dict[str, Any]] = {}

    def dir(self, stage: str) -> Path:
        return self.out / stage

    def key(self, stage: str) -> str:
        own = {k: getattr(self.cfg, k) for k in self.stage_fields[stage]}
        return config_hash({"stage": stage, "config": own, "extra": self.extra_key,
                            "deps": [self.keys[d] for d in self.deps[stage]], "v": CACHE_VERSION})  # fmt: skip

    def run(
        self, stage: str, fn: Callable[[Path], dict[str, Any]], describe: Callable[[dict[str, Any]], str]
    ) -> dict[str, Any]:
        """Run ``fn(stage_dir)`` unless a finished run with the same key is there; returns its result."""
        names = list(self.stage_fields)
        tag = f"[{names.index(stage) + 1}/{len(names)}] {stage:<13}"
        key = self.key(stage)
        self.keys[stage] = key
        d = self.dir(stage)
        marker = d / DONE
        if marker.is_file():
            try:
                done = json.loads(marker.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                done = {}
            if done.get("key") == key:
                self.results[stage] = done["result"]
                self.timing[stage] = {"seconds": done.get("seconds", 0.0), "cpu_seconds": done.get("cpu_seconds"),
                                      "reused": True}  # fmt: skip
                self.log(f"{tag} reused   {describe(done['result'])}")
                return done["result"]
        if d.exists():  # stale or unfinished outputs of this stage: start it over
            shutil.rmtree(d)
        d.mkdir(parents=True)
        self.log(f"{tag} running ...")
        t0, c0 = time.perf_counter(), time.process_time()
        res = json.loads(json.dumps(fn(d), default=str))
        sec, cpu = round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)
        done = {"stage": stage, "key": key, "seconds": sec, "cpu_seconds": cpu, "result": res}
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(done, indent=1) + "\n", encoding="utf-8")
        tmp.replace(marker)
        self.results[stage] = res
        self.timing[stage] = {"seconds": sec, "cpu_seconds": cpu, "reused": False}
        self.log(f"{tag} {sec:7.1f} s  {describe(res)}")
        return res
