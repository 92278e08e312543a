"""Training-time evaluation is ``prmkit score`` + ``prmkit eval processbench`` on the saved checkpoint.

The trainer scores its held-out records with the scorer ``prmkit score`` builds (wrapped around
the in-memory model), so the first-error F1 it logs must equal the F1 of the CLI pipeline run on
the checkpoint it wrote. The F1 of the scored file is also recomputed here by hand (first score
below 0.5; harmonic mean of the accuracy on erroneous and on correct solutions).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from prmkit.cli import app
from prmkit.records import read_records, write_records
from prmkit.train.config import TrainConfig
from prmkit.train.trainer import train
from prmkit.worlds.arith import make_bench

TINY = dict(init="tiny", tiny_hidden=32, tiny_layers=1, tiny_heads=2, tiny_vocab=320, batch_size=8,
            logging_steps=1, max_length=512, eval_steps=0, threads=1)  # fmt: skip


def _hand_f1(records) -> tuple[float, float, float]:
    """ProcessBench acc_err, acc_corr, F1 (percent) written out independently of prmkit."""
    err_hits = err_n = cor_hits = cor_n = 0
    for r in records:
        gold = next((i for i, y in enumerate(r.labels) if y is not None and y < 0.5), -1)
        pred = next((i for i, s in enumerate(r.scores) if s is not None and s < 0.5), -1)
        if gold == -1:
            cor_n += 1
            cor_hits += pred == -1
        else:
            err_n += 1
            err_hits += pred == gold
    acc_err, acc_corr = 100.0 * err_hits / err_n, 100.0 * cor_hits / cor_n
    f1 = 0.0 if acc_err + acc_corr == 0 else 2 * acc_err * acc_corr / (acc_err + acc_corr)
    return acc_err, acc_corr, f1


@pytest.fixture(scope="module")
def bench():
    recs = make_bench(56, seed=5, max_ops=3)
    for r in recs:
        r.meta["subset"] = "arith"
    return recs[:36], recs[36:]


@pytest.mark.parametrize(
    "fmt,loss,extra",
    [
        ("token-classification", "bce", {"lr": 1e-2, "max_steps": 10}),
        ("implicit", "implicit-ce", {"max_steps": 3}),
    ],
)
def test_logged_f1_equals_score_then_eval(tmp_path, bench, fmt, loss, extra):
    train_recs, eval_recs = bench
    out = tmp_path / "prm"
    res = train(
        TrainConfig(out=str(out), format=fmt, loss=loss, **TINY, **extra),
        train_records=train_recs,
        eval_records=eval_recs,
    )
    logged = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    logged_f1 = [row["eval_pb_f1"] for row in logged if "eval_pb_f1" in row]
    assert logged_f1 and logged_f1[-1] == res.metrics["eval_pb_f1"]

    runner = CliRunner()
    write_records(tmp_path / "eval.jsonl", eval_recs)
    r = runner.invoke(
        app,
        [
            "score",
            "--prm",
            str(out),
            "--in",
            str(tmp_path / "eval.jsonl"),
            "--out",
            str(tmp_path / "s.jsonl"),
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        ["eval", "processbench", "--scores", str(tmp_path / "s.jsonl"), "--threshold", "0.5",
         "--out", str(tmp_path / "ev")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    fixed = json.loads((tmp_path / "ev" / "results.json").read_text())["results"]["policies"]["fixed"]
    cli = fixed["subsets"]["arith"]

    scored = list(read_records(tmp_path / "s.jsonl"))
    acc_err, acc_corr, f1 = _hand_f1(scored)
    assert cli["f1"] == pytest.approx(f1, abs=1e-9) and cli["acc_err"] == pytest.approx(acc_err)
    assert res.metrics["eval_pb_f1"] == pytest.approx(f1, abs=1e-9)
    assert res.metrics["eval_pb_acc_err"] == pytest.approx(acc_err, abs=1e-9)
    assert res.metrics["eval_pb_acc_corr"] == pytest.approx(acc_corr, abs=1e-9)
    if fmt == "token-classification":  # trained enough that the scores are not all near 0.5
        assert max(abs(s - 0.5) for r in scored for s in r.scores) > 0.05
