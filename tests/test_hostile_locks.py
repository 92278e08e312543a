"""Issue #20, defect 2: one writer per output, ``--resume`` included.

Reproduces the race of the issue (two labelling runs on one directory started at the same instant,
several trials: crashes on ``manifest.json.tmp-<pid>`` and both running were seen), a ``--resume``
next to a live run, and a stale lock left by ``kill -9``. Processes are forked (no re-import).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from prmkit.errors import PrmkitError
from prmkit.label import LabelConfig, run_labelling
from prmkit.locks import LOCK_NAME, RunLock, RunLocked
from prmkit.records import write_records
from prmkit.worlds.arith import make_bench

CTX = multiprocessing.get_context("fork")


@pytest.fixture(scope="module")
def sols(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("locks") / "sols.jsonl"
    write_records(p, make_bench(8, seed=5))
    return p


def _label_cfg(sols: Path, out: Path, resume: bool) -> LabelConfig:
    return LabelConfig(input=str(sols), out=str(out), method="mc", n=2, batch_size=2, seed=0, quiet=True,
                       resume=resume)  # fmt: skip


def _racer(sols: str, out: str, resume: bool, barrier, results) -> None:
    barrier.wait()
    try:
        s = run_labelling(_label_cfg(Path(sols), Path(out), resume))
        results.put((os.getpid(), "ok", s["kept"] + s["dropped"]))
    except RunLocked as e:
        results.put((os.getpid(), "locked", str(e)))
    except PrmkitError as e:
        results.put((os.getpid(), "refused", str(e)))
    except BaseException as e:  # noqa: BLE001 - a crash is what the test looks for
        results.put((os.getpid(), "crash", repr(e)))


@pytest.mark.parametrize("resume", [False, True])
def test_two_runs_started_together_exactly_one_writes(sols, tmp_path, resume):
    for trial in range(5):
        out = tmp_path / f"run{trial}"
        barrier, results = CTX.Barrier(2), CTX.Queue()
        procs = [
            CTX.Process(target=_racer, args=(str(sols), str(out), resume, barrier, results)) for _ in range(2)
        ]
        for p in procs:
            p.start()
        got = [results.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        kinds = sorted(k for _, k, _ in got)
        assert "crash" not in kinds, got
        # exactly one run labelled the 8 records; the other was refused
        oks = [x for x in got if x[1] == "ok"]
        if resume and len(oks) == 2:
            # the second resumed a run that was already complete (it started after the first ended),
            # so it wrote nothing; never two writers at once (each shard written exactly once)
            pass
        else:
            assert len(oks) == 1, got
        assert oks[0][2] == 8
        lines = [
            ln for f in sorted((out / "shards").glob("shard-*.jsonl")) for ln in f.read_text().splitlines()
        ]
        assert len(lines) == 8 and len({json.loads(ln)["id"] for ln in lines}) == 8
        for pid, kind, msg in got:
            if kind == "locked":  # refused while the other ran: the message names the holder
                other = next(p for p, _, _ in got if p != pid)
                assert f"PID {other}" in msg, msg


def _hold(path: str, ready, release) -> None:
    lock = RunLock(path, command="holder", is_dir=True).acquire()
    ready.set()
    release.wait(60)
    lock.release()


def test_resume_next_to_a_live_run_is_refused_naming_its_pid(sols, tmp_path):
    out = tmp_path / "live"
    ready, release = CTX.Event(), CTX.Event()
    holder = CTX.Process(target=_hold, args=(str(out), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(RunLocked, match=f"PID {holder.pid} \\(holder"):
            run_labelling(_label_cfg(sols, out, resume=True))
        assert not (out / "manifest.json").exists()  # refused before touching the directory
    finally:
        release.set()
        holder.join(60)
    assert run_labelling(_label_cfg(sols, out, resume=True))["kept"] >= 0  # free once the holder is done


def _hold_forever(path: str, ready) -> None:
    RunLock(path, command="doomed", is_dir=True).acquire()
    ready.set()
    time.sleep(600)


def test_stale_lock_after_kill_9_does_not_block_resume(sols, tmp_path):
    out = tmp_path / "killed"
    ready = CTX.Event()
    victim = CTX.Process(target=_hold_forever, args=(str(out), ready))
    victim.start()
    assert ready.wait(60)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(60)
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == victim.pid  # the stale file is still there
    s = run_labelling(_label_cfg(sols, out, resume=True))
    assert s["kept"] + s["dropped"] == 8


def test_score_run_takes_the_lock_of_its_output_file(tmp_path):
    from prmkit.scorers.runner import ScoreConfig, score_file

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "problem": "p", "steps": ["1 + 1 = 2"]}) + "\n")
    out = tmp_path / "scored.jsonl"
    with RunLock(out, command="other", is_dir=False), pytest.raises(RunLocked, match=f"PID {os.getpid()}"):
        score_file(ScoreConfig(input=str(src), output=str(out), format="calculator", resume=True, quiet=True))
    assert not out.exists()
    score_file(ScoreConfig(input=str(src), output=str(out), format="calculator", quiet=True))
    assert json.loads(out.read_text())["scores"] == [1.0]


def test_search_run_takes_the_lock_of_its_output_file(tmp_path):
    from prmkit.records import write_problems
    from prmkit.search.run import SearchRunConfig, run_search
    from prmkit.worlds.arith import generate_problems

    probs = tmp_path / "problems.jsonl"
    write_problems(probs, generate_problems(2, seed=1))
    out = tmp_path / "results.jsonl"
    cfg = SearchRunConfig(input=str(probs), out=str(out), scorer="arith-oracle", method="best-of-n", n=2,
                          resume=True)  # fmt: skip
    with RunLock(out, command="other", is_dir=False), pytest.raises(RunLocked, match=f"PID {os.getpid()}"):
        run_search(cfg, quiet=True)
    assert not out.exists()
    assert run_search(cfg, quiet=True)["problems"] == 2  # free once the holder is done
