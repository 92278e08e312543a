"""``prmkit score``: end to end on files, format from prmkit.json, --resume."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from prmkit.cli import app
from prmkit.records import Solution, read_records, write_records

RECS = [
    Solution(
        id=f"s{i}",
        problem="What is 3 + 4?",
        steps=["3 + 4 = 7" if i % 2 else "3 + 4 = 8", "The answer is 7."],
    )
    for i in range(6)
]


def _write(tmp_path):
    p = tmp_path / "in.jsonl"
    write_records(p, RECS)
    return p


def test_calculator_scoring_and_resume(tmp_path):
    inp, out = _write(tmp_path), tmp_path / "out.jsonl"
    r = CliRunner().invoke(app, ["score", "--format", "calculator", "--in", str(inp), "--out", str(out)])
    assert r.exit_code == 0, r.output
    got = list(read_records(out))
    assert [g.id for g in got] == [x.id for x in RECS]
    assert [g.scores for g in got][:2] == [[0.0, 0.5], [1.0, 0.5]]
    # simulate a kill: keep 2 lines plus a torn third
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:2]) + lines[2][:10])
    r = CliRunner().invoke(
        app, ["score", "--format", "calculator", "--in", str(inp), "--out", str(out), "--resume"]
    )
    assert r.exit_code == 0, r.output
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == [x.id for x in RECS]  # nothing lost, nothing duplicated
    # without --resume an existing output is refused
    r = CliRunner().invoke(app, ["score", "--format", "calculator", "--in", str(inp), "--out", str(out)])
    assert r.exit_code != 0


def test_neural_format_from_prmkit_json(tmp_path):
    from prmkit.models.tiny import build_tiny_model, train_tokenizer
    from prmkit.scorers.neural import TokenClassificationScorer

    tok = train_tokenizer(["What is 3 + 4? 3 + 4 = 7. The answer is 7."] * 5, vocab_size=280)
    m = build_tiny_model("token-classification", tok, hidden_size=32, num_layers=1, num_heads=2)
    d = tmp_path / "prm"
    m.save_pretrained(d)
    tok.save_pretrained(d)
    (d / "prmkit.json").write_text(json.dumps({"format": "token-classification", "step_tag": "<step>"}))
    inp, out = _write(tmp_path), tmp_path / "out.jsonl"
    r = CliRunner().invoke(
        app,
        [
            "score",
            "--prm",
            str(d),
            "--in",
            str(inp),
            "--out",
            str(out),
            "--batch-tokens",
            "256",
            "--dtype",
            "fp32",
        ],
    )
    assert r.exit_code == 0, r.output
    got = list(read_records(out))
    want = TokenClassificationScorer(m, tok, step_tag="<step>").score_batch(
        [x.problem for x in RECS], [x.steps for x in RECS]
    )
    for g, w in zip(got, want, strict=True):
        assert g.scores == pytest.approx(w, abs=1e-5)


def test_missing_format_is_a_clear_error(tmp_path):
    inp = _write(tmp_path)
    r = CliRunner().invoke(
        app, ["score", "--prm", str(tmp_path), "--in", str(inp), "--out", str(tmp_path / "o.jsonl")]
    )
    assert r.exit_code != 0
    assert "prmkit.json" in str(r.exception) or "prmkit.json" in r.output
