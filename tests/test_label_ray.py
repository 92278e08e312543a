"""``--executor ray`` runs the same batches as Ray tasks and gives byte-identical shards."""

from __future__ import annotations

import json

import pytest

from prmkit.label import LabelConfig, read_labelled, run_labelling
from prmkit.records import write_records
from prmkit.worlds.arith import make_bench

ray = pytest.importorskip("ray")


def _lines(out):
    return [p.read_text(encoding="utf-8") for p in sorted((out / "shards").glob("shard-*.jsonl"))]


def test_ray_executor_equals_local(tmp_path):
    inp = tmp_path / "s.jsonl"
    write_records(inp, make_bench(8, seed=21))
    base = dict(
        input=str(inp),
        method="binary",
        n=4,
        batch_size=2,
        seed=7,
        quiet=True,
        label_opts={"selection": "omega", "search_limit": 3},
    )
    run_labelling(LabelConfig(out=str(tmp_path / "local"), **base))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        s = run_labelling(LabelConfig(out=str(tmp_path / "ray"), executor="ray", **base))
        # resume under ray after losing a batch: still identical
        (tmp_path / "ray" / "shards" / "shard-00001.jsonl").unlink()
        run_labelling(LabelConfig(out=str(tmp_path / "ray"), executor="ray", resume=True, **base))
    finally:
        ray.shutdown()
    assert _lines(tmp_path / "ray") == _lines(tmp_path / "local")
    assert len(read_labelled(tmp_path / "ray")) == 8 and s["batches_done"] == 4
    man = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert man["run"]["executor"] == "ray" and "ray" in man["versions"]
