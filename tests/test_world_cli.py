"""`prmkit world ...` commands write what the library functions return."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from prmkit.cli import app
from prmkit.records import read_problems, read_records
from prmkit.worlds.arith import check_steps

runner = CliRunner()


def test_world_arith_commands(tmp_path):
    out = tmp_path / "bench.jsonl"
    r = runner.invoke(app, ["world", "arith", "bench", "--n", "40", "--seed", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    recs = list(read_records(out))
    assert len(recs) == 40 and sum(x.first_error >= 0 for x in recs) == 20
    assert all(check_steps(x, x.steps).first_error == x.first_error for x in recs)

    pb = tmp_path / "bench.json"
    r = runner.invoke(
        app, ["world", "arith", "bench", "--n", "10", "--out", str(pb), "--format", "processbench"]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(pb.read_text())
    assert set(rows[0]) == {"id", "generator", "problem", "steps", "final_answer_correct", "label"}

    pf = tmp_path / "p.jsonl"
    r = runner.invoke(app, ["world", "arith", "problems", "--n", "7", "--max-ops", "3", "--out", str(pf)])
    assert r.exit_code == 0, r.output
    probs = list(read_problems(pf))
    assert len(probs) == 7 and all(len(p.meta["arith"]["nodes"]) <= 3 for p in probs)

    pool = tmp_path / "pool.jsonl"
    r = runner.invoke(app, ["world", "arith", "pool", "--n-problems", "5", "--n", "4", "--out", str(pool)])
    assert r.exit_code == 0, r.output
    assert len(list(read_records(pool))) == 20

    recipe = tmp_path / "r.yaml"
    recipe.write_text("n: 3\nmax_ops: 2\n")
    r = runner.invoke(app, ["world", "arith", "problems", "--config", str(recipe), "--out", str(pf)])
    assert r.exit_code == 0, r.output
    assert len(list(read_problems(pf))) == 3


def test_world_gsm8k_perturb_command(tmp_path, shared_data):
    out = tmp_path / "g.jsonl"
    src = shared_data / "gsm8k" / "test.jsonl"
    r = runner.invoke(app, ["world", "gsm8k-perturb", "--in", str(src), "--out", str(out), "--limit", "50"])
    assert r.exit_code == 0, r.output
    recs = list(read_records(out))
    assert len(recs) == 50 and 10 < sum(x.first_error >= 0 for x in recs) < 40
