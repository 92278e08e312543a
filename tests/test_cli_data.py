"""``prmkit convert`` / ``prmkit inspect`` through the real Typer app."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from prmkit.cli import app

runner = CliRunner()


def test_inspect_processbench_math(shared_data):
    res = runner.invoke(
        app, ["inspect", str(shared_data / "processbench" / "math.json"), "--format", "processbench"]
    )
    assert res.exit_code == 0, res.output
    assert "records" in res.output and "1000" in res.output
    assert "with an error" in res.output and "594" in res.output
    res = runner.invoke(app, ["inspect", str(shared_data / "processbench" / "math.json"), "--json"])
    stats = json.loads(res.output)
    assert stats["records"] == 1000 and stats["with_error"] == 594 and stats["all_correct"] == 406


def test_convert_round_trip_cli(shared_data, tmp_path):
    src = shared_data / "processbench" / "gsm8k.json"
    res = runner.invoke(app, ["convert", str(src), str(tmp_path / "c.parquet"), "--from", "processbench"])
    assert res.exit_code == 0, res.output
    assert "read 400 records, wrote 400 rows" in res.output
    res = runner.invoke(
        app, ["convert", str(tmp_path / "c.parquet"), str(tmp_path / "b.json"), "--to", "processbench"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "b.json").read_text()) == json.loads(src.read_text())


def test_convert_skip_invalid_and_map(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"q": "p", "s": "a\\n\\nb", "fe": 1}\n{"q": "p", "s": "", "fe": -1}\n{"q": 1, "s": "a"}\n'
    )
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    args = ["convert", str(src), str(out), "--from", "map", "--map", "problem=q,steps=s,first_error=fe"]
    res = runner.invoke(app, [*args, "--skip-invalid", "--rejects", str(rej)])
    assert res.exit_code == 0, res.output
    assert "read 1 records" in res.output and "skipped 2 invalid" in res.output
    assert len(rej.read_text().splitlines()) == 2
    assert json.loads(out.read_text())["labels"] == [1.0, 0.0]


def test_bad_input_clean_error_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "problem": "p", "steps": ["s"], "labels": [NaN]}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "prmkit",
            "-q",
            "convert",
            str(bad),
            str(tmp_path / "o.jsonl"),
            "--from",
            "canonical",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "bad.jsonl:1: field 'labels'" in proc.stderr and "Traceback" not in proc.stderr
