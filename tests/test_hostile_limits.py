"""Issue #20, defect 5 and item 6: limits are checked, inputs before the model.

Reproduces: ``prmkit score --max-length 4096`` on a model with 1024 positions ran with no warning;
``--max-length 0`` / ``-5`` exited 0 with every step ``None``; ``prmkit score --in missing.jsonl``
loaded the model first and died with a traceback; an empty input printed ``scored 0 solution(s)``.
(The walk of every command's numeric flags is tests/test_cli_contract.py::DOMAIN_CASES.)
"""

from __future__ import annotations

import json

import pytest

from cli_util import run_cli
from prmkit.errors import PrmkitError
from serve_util import make_tiny_prm


@pytest.fixture(scope="module")
def prm(tmp_path_factory):
    # build_tiny_model's default window: max_position_embeddings=1024, as in the issue
    return make_tiny_prm(tmp_path_factory.mktemp("limits") / "prm")


def test_max_length_above_the_model_window_is_an_error(prm):
    from prmkit.scorers import load_scorer

    with pytest.raises(PrmkitError, match=r"max_length.*1024 positions, got 4096"):
        load_scorer(None, str(prm), max_length=4096)
    assert load_scorer(None, str(prm), max_length=1024).max_length == 1024
    assert load_scorer(None, str(prm)).max_length == 1024


@pytest.mark.parametrize("value", ["4096", "0", "-5"])
def test_score_cli_max_length_out_of_domain_exit_2(prm, tmp_path, value, monkeypatch, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "problem": "p", "steps": ["1 + 1 = 2"]}) + "\n")
    out = tmp_path / "o.jsonl"
    args = ["score", "--in", str(src), "--out", str(out), "--prm", str(prm), "--max-length", value]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2, err
    assert "--max-length" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("content", [None, "", "\n\n"])
def test_score_cli_missing_or_empty_input_exit_2_before_the_model(
    prm, tmp_path, content, monkeypatch, capsys
):
    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("prmkit.scorers.load_scorer", no_model)
    src = tmp_path / "in.jsonl"
    if content is not None:
        src.write_text(content)
    code, _, err = run_cli(["score", "--in", str(src), "--out", str(tmp_path / "o.jsonl"), "--prm", str(prm)],
                           monkeypatch, capsys)  # fmt: skip
    assert code == 2, err
    assert ("file not found" if content is None else "empty file") in err and "in.jsonl" in err
    assert "Traceback" not in err and "scored 0" not in err


@pytest.mark.parametrize(
    ("args", "flag"),
    [(["train", "--data", "d.jsonl", "--out", "ckpt", "--init", "tiny", "--max-steps", "-3"], "--max-steps"),
     (["world", "arith", "bench", "--n", "0", "--out", "bench.jsonl"], "--n"),
     (["score", "--in", "in.jsonl", "--out", "o.jsonl", "--format", "calculator", "--chunk", "0"], "--chunk"),
     (["serve", "--prm", "calculator", "--request-timeout", "nan"], "--request-timeout")],
)  # fmt: skip
def test_new_user_out_of_domain_values_exit_2_naming_the_flag(args, flag, tmp_path, monkeypatch, capsys):
    """The issue's reports, through the real commands (nothing faked): ``train --max-steps -3``
    trained 48 steps, ``world bench --n 0`` wrote an empty file; both exited 0."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.jsonl").write_text(
        json.dumps({"id": "a", "problem": "p", "steps": ["s"], "labels": [1]}) + "\n"
    )
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "a", "problem": "p", "steps": ["1 + 1 = 2"]}) + "\n")
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 2, out + err
    assert f"error: {flag}: " in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "in.jsonl"]  # nothing written
