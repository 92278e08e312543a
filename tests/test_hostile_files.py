"""Issue #20, defect 3 and item 6: commands that write files are all-or-nothing, bad bytes name
their line, and inputs are checked before any model is loaded.

Reproduces: ``prmkit convert`` with bad JSON on line 10 left 9 rows (and an unterminated ``.json``
array); a non-UTF-8 byte gave no line and could not be skipped; ``prmkit score --in missing.jsonl``
loaded the model first; an empty input scored 0 solutions with exit 0; ``prmkit inspect`` on an
empty file said "cannot detect the format"; a truncated JSON line reported the wrong column.
"""

from __future__ import annotations

import json

import pytest

from cli_util import run_cli
from prmkit.errors import PrmkitError
from prmkit.formats import ConvertConfig, convert, detect_format


def _row(i: int) -> str:
    return json.dumps({"id": f"r{i}", "problem": "p", "steps": ["a", "b"], "labels": [1, 0]})


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_convert_bad_line_10_leaves_no_output(tmp_path, suffix, monkeypatch, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(_row(i) + "\n" for i in range(9)) + "{not json\n" + _row(10) + "\n")
    out = tmp_path / f"out{suffix}"
    code, _, err = run_cli(["convert", str(src), str(out), "--from", "canonical"], monkeypatch, capsys)
    assert code == 2, err
    assert "in.jsonl:10" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no output, no temp file


def test_convert_failure_keeps_a_previous_output_intact(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(_row(0) + "\n{bad\n")
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    with pytest.raises(PrmkitError):
        convert(ConvertConfig(input=str(src), output=str(out), from_format="canonical", quiet=True))
    assert out.read_text() == "previous\n"


def test_non_utf8_line_is_named_and_skippable(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        (_row(0) + "\n" + _row(1) + "\n").encode() + b'{"id": "x\xff"}\n' + (_row(3) + "\n").encode()
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(PrmkitError, match=r"in\.jsonl:3: not valid UTF-8 text: byte 0xff"):
        convert(ConvertConfig(input=str(src), output=str(out), from_format="canonical", quiet=True))
    assert not out.exists()
    rej = tmp_path / "rejects.jsonl"
    res = convert(ConvertConfig(input=str(src), output=str(out), from_format="canonical", skip_invalid=True,
                                rejects=str(rej), quiet=True))  # fmt: skip
    assert (res.read, res.written, res.rejected) == (3, 3, 1)
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["r0", "r1", "r3"]
    rejected = [json.loads(x) for x in rej.read_text().splitlines()]
    assert len(rejected) == 1 and ":3:" in rejected[0]["error"]


def test_truncated_json_line_reports_its_own_column(tmp_path):
    line = '{"id": "a", "problem": "p"'  # cut after 26 characters: the parser wants ',' at column 27
    src = tmp_path / "t.jsonl"
    src.write_text(_row(0) + "\n" + line + "\n")
    with pytest.raises(PrmkitError, match=rf"t\.jsonl:2: malformed JSON: .*\(column {len(line) + 1}\)"):
        convert(ConvertConfig(input=str(src), output=str(tmp_path / "o.jsonl"), from_format="canonical",
                              quiet=True))  # fmt: skip


def test_inspect_empty_file_says_empty(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(PrmkitError, match="empty file"):
        detect_format(empty)
    code, _, err = run_cli(["inspect", str(empty)], monkeypatch, capsys)
    assert code == 2 and "empty file" in err and "cannot detect" not in err


def test_score_checks_its_input_before_loading_a_model(tmp_path, monkeypatch):
    from prmkit.scorers import runner

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("prmkit.scorers.load_scorer", no_model)
    base = {"output": str(tmp_path / "o.jsonl"), "prm": str(tmp_path / "no-model"), "quiet": True}
    with pytest.raises(PrmkitError, match=r"missing\.jsonl: file not found"):
        runner.score_file(runner.ScoreConfig(input=str(tmp_path / "missing.jsonl"), **base))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(PrmkitError, match=r"empty\.jsonl: empty file"):
        runner.score_file(runner.ScoreConfig(input=str(empty), **base))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    with pytest.raises(PrmkitError, match=r"bad\.jsonl:1: malformed JSON"):
        runner.score_file(runner.ScoreConfig(input=str(bad), **base))
    assert not (tmp_path / "o.jsonl").exists()


# ---------------------------------------------------------------- item 6: every command, before any model

#: (command argv with {IN} for the input file, output paths that must not appear); the PRM path is
#: never loaded: the loaders below raise
INPUT_COMMANDS = {
    "score": (["score", "--in", "{IN}", "--out", "o.jsonl", "--prm", "prm"], ["o.jsonl"]),
    "label": (["label", "--in", "{IN}", "--out", "lab", "--policy", "hf", "--method", "mc", "--n", "2"], ["lab"]),
    "search": (["search", "--in", "{IN}", "--out", "r.jsonl", "--prm", "prm", "--method", "best-of-n"],
               ["r.jsonl"]),
    "train": (["train", "--data", "{IN}", "--out", "ckpt", "--init", "tiny", "--max-steps", "2"], ["ckpt"]),
    "eval bon": (["eval", "bon", "--pool", "{IN}", "--prm", "prm", "--out", "ev"], ["ev"]),
    "eval processbench": (["eval", "processbench", "--scores", "{IN}", "--out", "ev"], ["ev"]),
    "eval prmbench": (["eval", "prmbench", "--scores", "{IN}", "--out", "ev"], ["ev"]),
    "eval calibration": (["eval", "calibration", "--scores", "{IN}", "--out", "ev"], ["ev"]),
    "convert": (["convert", "{IN}", "o.jsonl", "--from", "canonical"], ["o.jsonl"]),
    "inspect": (["inspect", "{IN}"], []),
    "world gsm8k-perturb": (["world", "gsm8k-perturb", "--in", "{IN}", "--out", "o.jsonl"], ["o.jsonl"]),
}  # fmt: skip

#: what the message says about each kind of bad input
INPUT_CASES = {
    "missing": (None, "file not found"),
    "empty": ("", ("empty file", "no training records")),
    "blank": ("\n  \n", ("empty file", "no training records")),
    "bad-first-line": ('{"id": "a", "problem"\n', "in.jsonl:1: malformed JSON"),
    "not-utf8": (b'{"id": "\xff"}\n', "in.jsonl:1: not valid UTF-8"),
}


@pytest.fixture
def no_models(monkeypatch):
    """Every model / policy loader raises: a command that loads one before checking its input fails."""

    def refuse(*a, **k):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr("prmkit.scorers.load_scorer", refuse)
    monkeypatch.setattr("prmkit.search.run.load_scorer", refuse)
    monkeypatch.setattr("prmkit.search.run.load_policy", refuse)
    monkeypatch.setattr("prmkit.policies.base.load_policy", refuse)
    monkeypatch.setattr("prmkit.train.trainer.build_model", refuse)


@pytest.mark.parametrize("case", sorted(INPUT_CASES))
@pytest.mark.parametrize("name", sorted(INPUT_COMMANDS))
def test_every_command_checks_its_input_before_any_model(
    name, case, tmp_path, monkeypatch, capsys, no_models
):
    argv, outputs = INPUT_COMMANDS[name]
    content, expected = INPUT_CASES[case]
    src = tmp_path / "in.jsonl"
    if isinstance(content, bytes):
        src.write_bytes(content)
    elif content is not None:
        src.write_text(content)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli([a.replace("{IN}", "in.jsonl") for a in argv], monkeypatch, capsys)
    assert code == 2, err
    assert "in.jsonl" in err and "Traceback" not in err
    assert any(e in err for e in ((expected,) if isinstance(expected, str) else expected)), err
    for out in outputs:
        assert not (tmp_path / out).exists(), f"{name} left {out}"


def test_convert_empty_input_needs_allow_empty(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("")
    out = tmp_path / "o.jsonl"
    code, _, err = run_cli(["convert", str(src), str(out)], monkeypatch, capsys)
    assert code == 2 and "empty file" in err and not out.exists()
    code, out_text, err = run_cli(["convert", str(src), str(out), "--allow-empty"], monkeypatch, capsys)
    assert code == 0, err
    assert out.read_text() == "" and "read 0 records" in out_text
    arr = tmp_path / "in.json"  # a JSON document holding no record: empty after reading
    arr.write_text("[]")
    code, _, err = run_cli(["convert", str(arr), str(tmp_path / "o2.jsonl"), "--from", "canonical"],
                           monkeypatch, capsys)  # fmt: skip
    assert code == 2 and "no records" in err and not (tmp_path / "o2.jsonl").exists()


def test_eval_with_a_prm_checks_its_data_before_the_prm(tmp_path, monkeypatch, capsys, no_models):
    pb = tmp_path / "pb"
    pb.mkdir()
    for s in ("gsm8k", "math", "olympiadbench", "omnimath"):
        (pb / f"{s}.json").write_text("[]")
    code, _, err = run_cli(["eval", "processbench", "--prm", "prm", "--data", str(pb), "--out", str(tmp_path / "e")],
                           monkeypatch, capsys)  # fmt: skip
    assert code == 2 and "no records" in err, err
    bench = tmp_path / "prmbench"
    bench.mkdir()
    (bench / "a.jsonl").write_text("\n")
    code, _, err = run_cli(["eval", "prmbench", "--prm", "prm", "--data", str(bench), "--out", str(tmp_path / "e")],
                           monkeypatch, capsys)  # fmt: skip
    assert code == 2 and "no records" in err, err
    assert not (tmp_path / "e").exists()


def test_one_shot_outputs_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """Reports, results JSON and ProcessBench files go through a temporary file and a rename: a
    failure while writing (here: the disk fills up after half the text) leaves the previous file
    (or none) and no temporary file."""
    import prmkit.records as records
    from prmkit.evaluate.common import write_json
    from prmkit.worlds.arith import make_bench
    from prmkit.worlds.arith_tasks import write_processbench

    out = tmp_path / "results.json"
    out.write_text("previous")
    real = records.Path.write_text

    def disk_full(self, *a, **k):
        real(self, "half", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(records.Path, "write_text", disk_full)
    with pytest.raises(OSError):
        write_json(out, {"x": 1})
    with pytest.raises(OSError):
        write_processbench(str(tmp_path / "bench.json"), make_bench(3, seed=0))
    monkeypatch.undo()
    assert out.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    assert write_json(out, {"x": float("nan")}).read_text() == '{\n  "x": null\n}\n'
