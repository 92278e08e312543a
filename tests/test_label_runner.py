"""The labelling runner: shards, manifest, resume (after SIGKILL too), CLI, bad input."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prmkit.errors import PrmkitError
from prmkit.label import LabelConfig, LabelContext, make_labeller, read_labelled, run_labelling
from prmkit.label.judge import ConsensusLabeller, JudgeLabeller
from prmkit.label.runner import problem_from_solution
from prmkit.records import first_error_of, read_records, write_problems, write_records
from prmkit.scorers.base import Scorer
from prmkit.worlds.arith import generate_problems, make_bench
from prmkit.worlds.arith_policy import ArithPolicy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sols(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("label") / "sols.jsonl"
    write_records(p, make_bench(14, seed=11))
    return p


def sorted_lines(out: Path) -> list[str]:
    lines = []
    for shard in sorted((out / "shards").glob("shard-*.jsonl")):
        lines += shard.read_text(encoding="utf-8").splitlines()
    return sorted(lines, key=lambda s: json.loads(s)["id"])


def cfg(inp: Path, out: Path, **kw) -> LabelConfig:
    kw.setdefault("quiet", True)
    return LabelConfig(input=str(inp), out=str(out), **kw)


def test_run_matches_direct_labelling_and_batching_does_not_matter(sols, tmp_path):
    s1 = run_labelling(cfg(sols, tmp_path / "a", method="mc", n=4, batch_size=3, seed=2))
    run_labelling(cfg(sols, tmp_path / "b", method="mc", n=4, batch_size=14, seed=2))
    assert sorted_lines(tmp_path / "a") == sorted_lines(tmp_path / "b")
    recs = read_labelled(tmp_path / "a")
    assert [r.id for r in recs] == [f"arith-11-{i}#0" for i in range(14)]  # input order
    # same as calling the labeller directly
    lab = make_labeller("mc", n=4)
    ctx = LabelContext(policy=ArithPolicy(), seed=2)
    inputs = {s.id: s for s in read_records(sols)}
    for r in recs[:4]:
        direct = lab.label(r, problem_from_solution(r), ctx)
        assert direct.labels == r.labels
        assert r.meta["labelling"]["cost"]["rollouts"] == direct.rollouts
        inp = inputs[r.id]  # input meta and labels kept
        assert r.meta["input_labels"] == inp.labels and {k: r.meta[k] for k in inp.meta} == inp.meta
    assert s1["rollouts"] == sum(r.meta["labelling"]["cost"]["rollouts"] for r in recs) > 0
    assert s1["kept"] == 14 and s1["dropped"] == 0 and s1["batches_done"] == 5
    man = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert man["batches"]["completed"] == [0, 1, 2, 3, 4] and man["seed"] == 2
    assert (
        man["config"]["method"] == "mc" and "prmkit" in man["versions"] and len(man["input"]["sha256"]) == 64
    )
    summ = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summ["rollout_tokens"] > 0 and "elapsed_s" in summ


def test_different_seed_changes_labels(sols, tmp_path):
    run_labelling(cfg(sols, tmp_path / "a", method="mc", n=2, label_opts={"label_type": "soft"}, seed=0))
    run_labelling(cfg(sols, tmp_path / "b", method="mc", n=2, label_opts={"label_type": "soft"}, seed=1))
    assert sorted_lines(tmp_path / "a") != sorted_lines(tmp_path / "b")


def test_resume_redoes_only_missing_batches(sols, tmp_path):
    out = tmp_path / "r"
    run_labelling(cfg(sols, out, method="binary", batch_size=4))
    ref = sorted_lines(out)
    (out / "shards" / "shard-00002.jsonl").unlink()
    (out / "shards" / "shard-00002.meta.json").unlink()
    (out / "shards" / "shard-00001.jsonl.tmp-123").write_text("partial garbage")
    mtime = (out / "shards" / "shard-00000.jsonl").stat().st_mtime_ns
    with pytest.raises(PrmkitError, match="--resume"):
        run_labelling(cfg(sols, out, method="binary", batch_size=4))
    with pytest.raises(PrmkitError, match="differs from the run being resumed"):
        run_labelling(cfg(sols, out, method="binary", batch_size=5, resume=True))
    s = run_labelling(cfg(sols, out, method="binary", batch_size=4, resume=True))
    assert sorted_lines(out) == ref
    assert (out / "shards" / "shard-00000.jsonl").stat().st_mtime_ns == mtime  # not rewritten
    assert not list((out / "shards").glob("*.tmp-*"))
    assert s["batches_done"] == 4 and s["solutions"] == 14


def test_problem_input_samples_then_labels(tmp_path):
    p = tmp_path / "probs.jsonl"
    write_problems(p, generate_problems(5, seed=4))
    s = run_labelling(cfg(p, tmp_path / "o", method="adaptive", samples_per_problem=3, batch_size=2))
    recs = read_labelled(tmp_path / "o")
    assert len(recs) == 15 and recs[0].id == "arith-4-0#0" and recs[2].id == "arith-4-0#2"
    assert all(r.labels is not None and len(r.labels) == len(r.steps) for r in recs)
    assert all("arith" in r.meta and r.meta["problem_id"] == r.id.split("#")[0] for r in recs)
    assert s["sample_tokens"] > 0 and s["records_in"] == 5
    with pytest.raises(PrmkitError, match="problem input only"):
        run_labelling(
            cfg(tmp_path / "o" / "shards" / "shard-00000.jsonl", tmp_path / "x", samples_per_problem=2)
        )


def test_scan_in_runner_counts_drops(tmp_path):
    p = tmp_path / "probs.jsonl"
    write_problems(p, generate_problems(6, seed=8))
    s = run_labelling(
        cfg(
            p,
            tmp_path / "o",
            method="mc",
            n=4,
            label_opts={"early_stop": True},
            scan=True,
            scan_min_confidence=0.5,
            samples_per_problem=4,
            policy_opts={"error_rate": 0.1},
        )
    )
    allr = read_labelled(tmp_path / "o", include_dropped=True)
    kept = read_labelled(tmp_path / "o")
    assert len(allr) == 24 and s["kept"] == len(kept) and s["dropped"] == 24 - len(kept)
    assert sum(s["dropped_by_reason"].values()) == s["dropped"]
    for r in allr:
        sc = r.meta["labelling"]["self_confidence"]
        assert ("dropped" in r.meta["labelling"]) == (r.labels is None)
        if sc < 0.5:
            assert r.meta["labelling"]["dropped"].startswith("scan-low-confidence")
    with pytest.raises(PrmkitError, match="needs scan=true"):
        run_labelling(cfg(p, tmp_path / "z", scan_samples=8))


class _Judge(Scorer):
    """Says the first step is wrong on odd-numbered problems, all correct otherwise."""

    def score_batch(self, problems, steps):
        return [[1.0] * len(s) for s in steps]


def test_consensus_run_writes_and_counts_dropped(sols, tmp_path):
    lab = ConsensusLabeller(first="mc", second=JudgeLabeller(scorer=_Judge()), n=4)
    s = run_labelling(cfg(sols, tmp_path / "c", method="consensus"), labeller=lab)
    kept = read_labelled(tmp_path / "c")
    allr = read_labelled(tmp_path / "c", include_dropped=True)
    assert len(allr) == 14 and s["dropped"] == 14 - len(kept) > 0
    assert all(first_error_of(r.labels) == -1 for r in kept)  # the judge says -1 always
    assert s["dropped_by_reason"] == {"consensus-disagreement": s["dropped"]}
    with pytest.raises(PrmkitError, match="local executor"):
        run_labelling(cfg(sols, tmp_path / "d", method="consensus", executor="ray"), labeller=lab)


def test_bad_input_is_located(tmp_path):
    bad = tmp_path / "bad.jsonl"
    rec = make_bench(2, seed=1)
    d0, d1 = rec[0].to_dict(), rec[1].to_dict()
    del d1["reference_answer"]
    bad.write_text(json.dumps(d0) + "\n" + json.dumps(d1) + "\n")
    with pytest.raises(PrmkitError) as e:
        run_labelling(cfg(bad, tmp_path / "o"))
    assert "bad.jsonl:2" in str(e.value) and "reference_answer" in str(e.value)
    dup = tmp_path / "dup.jsonl"
    dup.write_text(json.dumps(d0) + "\n" + json.dumps(d0) + "\n")
    with pytest.raises(PrmkitError, match="dup.jsonl:2: field 'id': duplicate"):
        run_labelling(cfg(dup, tmp_path / "o2"))
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(
        json.dumps({"id": "p", "problem": "?", "reference_answer": "1"}) + "\n" + json.dumps(d0) + "\n"
    )
    with pytest.raises(PrmkitError, match="mixed.jsonl:2: field 'steps'"):
        run_labelling(cfg(mixed, tmp_path / "o3"))
    with pytest.raises(PrmkitError, match="unknown executor"):
        run_labelling(cfg(bad, tmp_path / "o4", executor="spark"))
    with pytest.raises(PrmkitError, match="--n does not apply"):
        run_labelling(cfg(dup, tmp_path / "o5", method="judge", n=4))
    with pytest.raises(PrmkitError, match="unknown labeller"):
        run_labelling(cfg(dup, tmp_path / "o6", method="magic"))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "prmkit", "-q", "label", *args]


def test_cli_recipe_and_error_exit(sols, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("method: binary\nn: 4\nbatch_size: 5\npolicy_opts: {error_rate: 0.15}\n")
    out = tmp_path / "o"
    r = subprocess.run(
        _cli(
            "--in", str(sols), "--out", str(out), "--config", str(recipe), "--policy-opt", "miracle_rate=0.02"
        ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["solutions"] == 14
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["method"] == "binary" and man["config"]["n"] == 4
    assert man["config"]["policy_opts"] == {"error_rate": 0.15, "miracle_rate": 0.02}
    r2 = subprocess.run(
        _cli("--in", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x")),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r2.returncode == 2 and "missing.jsonl" in r2.stderr and "not found" in r2.stderr


def test_sigkill_at_random_points_then_resume_is_exact(tmp_path):
    inp = tmp_path / "k.jsonl"
    write_records(inp, make_bench(30, seed=5))
    args = ["--in", str(inp), "--method", "mc", "--n", "8", "--batch-size", "2", "--seed", "3"]
    t0 = time.monotonic()
    ref = subprocess.run(
        _cli(*args, "--out", str(tmp_path / "ref")), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    full = time.monotonic() - t0
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    rng = random.Random(1234)
    partial = []  # shards on disk right after each kill that interrupted a live process
    for i, frac in enumerate((0.25, 0.35, 0.45)):
        cmd = _cli(*args, "--out", str(out)) + (["--resume"] if i else [])
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        time.sleep(full * frac * rng.uniform(0.8, 1.2))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            partial.append(len(list((out / "shards").glob("shard-*.jsonl"))))
        proc.wait(timeout=60)
    assert any(k < 15 for k in partial), partial  # the kills really interrupted the run
    fin = subprocess.run(
        _cli(*args, "--out", str(out), "--resume"), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert fin.returncode == 0, fin.stderr
    assert sorted_lines(out) == sorted_lines(tmp_path / "ref")
    assert len(sorted_lines(out)) == 30
    assert not list((out / "shards").glob("*.tmp-*"))
    man = json.loads((out / "manifest.json").read_text())
    assert man["batches"]["completed"] == list(range(15))
