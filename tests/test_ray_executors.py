"""``--executor ray`` for scoring and search: shards, a manifest, resume, the local executor's output."""

from __future__ import annotations

import json

import pytest

from prmkit.errors import PrmkitError
from prmkit.executors import run_sharded, shard_path, shards_dir
from prmkit.records import write_problems, write_records
from prmkit.scorers.runner import ScoreConfig, score_file
from prmkit.search.run import SearchRunConfig, run_search
from prmkit.worlds.arith import generate_problems, make_bench


def _no_time(path) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    for r in rows:
        r["compute"].pop("wall_time_s")
    return rows


def _double(spec, bid, items):
    return {"batch": bid, "lines": [str(spec["k"] * x) for x in items]}


def test_sharded_run_resumes_missing_shards_and_checks_identity(tmp_path):
    out = tmp_path / "o.jsonl"
    calls: list[int] = []

    def counted(spec, bid, items):
        calls.append(bid)
        return _double(spec, bid, items)

    res = run_sharded(counted, {"k": 3}, list(range(7)), out=out, identity={"k": 3}, shard_size=3)
    assert out.read_text().split() == [str(3 * x) for x in range(7)]  # by hand: 0 3 6 ... 18
    assert res == {"shards": 3, "shards_run": 3, "items_run": 7, "lines": 7} and sorted(calls) == [0, 1, 2]
    man = json.loads((shards_dir(out) / "manifest.json").read_text())
    assert man["completed"] == [0, 1, 2] and man["identity"] == {"k": 3}
    shard_path(out, 1).unlink()
    calls.clear()
    res = run_sharded(
        counted, {"k": 3}, list(range(7)), out=out, identity={"k": 3}, shard_size=3, resume=True
    )
    assert (
        calls == [1] and res["items_run"] == 3 and out.read_text().split() == [str(3 * x) for x in range(7)]
    )
    with pytest.raises(PrmkitError, match="resume"):
        run_sharded(counted, {"k": 3}, [1], out=out, identity={"k": 3}, shard_size=3)
    with pytest.raises(PrmkitError, match="field 'k'"):
        run_sharded(counted, {"k": 4}, [1], out=out, identity={"k": 4}, shard_size=3, resume=True)


def test_ray_score_and_search_equal_local(tmp_path):
    ray = pytest.importorskip("ray")
    sols = tmp_path / "s.jsonl"
    write_records(sols, make_bench(10, seed=5))
    probs = tmp_path / "p.jsonl"
    write_problems(probs, generate_problems(6, seed=2, max_ops=4))
    score_base = dict(input=str(sols), format="calculator", chunk=3, quiet=True)
    search_base = dict(
        input=str(probs), policy="arith", scorer="arith-oracle", method="beam", n=4, width=2, max_steps=6
    )
    score_file(ScoreConfig(output=str(tmp_path / "local.jsonl"), **score_base))
    run_search(SearchRunConfig(out=str(tmp_path / "slocal.jsonl"), **search_base), quiet=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        r = score_file(ScoreConfig(output=str(tmp_path / "ray.jsonl"), executor="ray", **score_base))
        ray_search = SearchRunConfig(
            out=str(tmp_path / "sray.jsonl"), executor="ray", shard_size=4, batch_problems=2, **search_base
        )
        summary = run_search(ray_search, quiet=True)
        # lose a shard of each, resume: only that shard is redone and the outputs are unchanged
        shard_path(tmp_path / "ray.jsonl", 2).unlink()
        (tmp_path / "ray.jsonl").unlink()
        r2 = score_file(
            ScoreConfig(output=str(tmp_path / "ray.jsonl"), executor="ray", resume=True, **score_base)
        )
        shard_path(tmp_path / "sray.jsonl", 0).unlink()
        ray_search.resume = True
        run_search(ray_search, quiet=True)
    finally:
        ray.shutdown()
    local_bytes = (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "ray.jsonl").read_bytes() == local_bytes
    assert r["written"] == 10 and r["shards"] == 4 and r2["written"] == 3 and r2["skipped"] == 7
    # wall time is a measurement: everything else of each search result is identical
    assert _no_time(tmp_path / "sray.jsonl") == _no_time(tmp_path / "slocal.jsonl")
    assert summary["problems"] == 6
    man = json.loads((shards_dir(tmp_path / "sray.jsonl") / "manifest.json").read_text())
    assert man["executor"] == "ray" and man["shards"] == 2 and "batch_problems" not in man["identity"]
