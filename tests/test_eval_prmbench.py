"""PRMBench F1 / negative F1 / PRMScore (methods.md A2), data loading and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prmkit.cli import app
from prmkit.errors import PrmkitError
from prmkit.evaluate import prmbench as pm
from prmkit.records import Solution, write_records


def test_a2_how_to_test() -> None:
    labels = pm.labels_from_error_steps(5, [3, 4])  # 1-based
    assert labels == [1.0, 1.0, 0.0, 0.0, 1.0]
    c = pm.confusion([0.9, 0.7, 0.3, 0.6, 0.2], labels, 0.5)
    assert c == {"tp": 2, "fn": 1, "tn": 1, "fp": 1}
    m = pm.prm_scores(c)
    assert m["f1"] == pytest.approx(0.667, abs=1e-3)
    assert m["negative_f1"] == pytest.approx(0.5)
    assert m["prmscore"] == pytest.approx(0.583, abs=1e-3)


def test_threshold_is_strict_and_weights_apply() -> None:
    assert pm.confusion([0.5], [1]) == {"tp": 0, "fn": 1, "tn": 0, "fp": 0}
    m = pm.prm_scores({"tp": 2, "fn": 1, "tn": 1, "fp": 1}, weights=(1.0, 0.0))
    assert m["prmscore"] == pytest.approx(0.5)


def test_per_category_and_multi_solution() -> None:
    recs = [
        Solution(
            id="a",
            problem="q",
            steps=list("abcde"),
            scores=[0.9, 0.7, 0.3, 0.6, 0.2],
            labels=[1, 1, 0, 0, 1],
            meta={"classification": "circular"},
        ),
        Solution(
            id="b",
            problem="q",
            steps=list("ab"),
            scores=[0.9, 0.2],
            labels=[1, 1],
            meta={"classification": "multi_solutions"},
        ),
    ]
    res = pm.evaluate_prmbench(recs)
    assert res["categories"]["circular"]["prmscore"] == pytest.approx(0.5833, abs=1e-3)
    ms = res["categories"]["multi_solutions"]
    assert ms["negative_f1"] is None and ms["prmscore"] is None and ms["f1"] == pytest.approx(2 / 3)
    # overall: tp=3 fn=2 tn=1 fp=1 -> F1 = 2*0.75*0.6/1.35, F1_neg = 2*(1/3)*(1/2)/(5/6)
    o = res["overall"]
    assert o["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert o["negative_f1"] == pytest.approx(0.4)
    assert res["weights"]["verified"] is False


def test_bad_error_steps_are_located(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text(
        json.dumps(
            {
                "modified_question": "q",
                "modified_process": ["a"],
                "error_steps": [0],
                "classification": "circular",
            }
        )
        + "\n"
    )
    with pytest.raises(PrmkitError, match=r"x.jsonl:1: field 'error_steps'"):
        pm.load_prmbench(tmp_path)


def test_load_shared_prmbench(shared_data: Path) -> None:
    recs = pm.load_prmbench(shared_data / "prmbench", pattern="prm800k_test_p1_*.jsonl")
    assert len(recs) == 718
    assert {r.meta["classification"] for r in recs} == set(pm.CATEGORIES) - {"multi_solutions"}
    r = recs[0]
    assert r.labels is not None and [i + 1 for i, y in enumerate(r.labels) if y == 0] == r.meta["error_steps"]


def test_cli_scores(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    write_records(
        f,
        [
            Solution(
                id="a",
                problem="q",
                steps=list("abcde"),
                scores=[0.9, 0.7, 0.3, 0.6, 0.2],
                labels=[1, 1, 0, 0, 1],
                meta={"classification": "circular"},
            )
        ],
    )
    res = CliRunner().invoke(app, ["eval", "prmbench", "--scores", str(f), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "| **overall** | 1 | 66.7 | 50.0 | **58.3** |" in res.stdout
    saved = json.loads((tmp_path / "o" / "results.json").read_text())
    assert saved["results"]["overall"]["tp"] == 2


def test_out_of_range_error_steps_are_counted(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text(
        json.dumps(
            {
                "modified_question": "q",
                "modified_process": ["a", "b"],
                "error_steps": [2, 3],
                "classification": "circular",
            }
        )
        + "\n"
    )
    (r,) = pm.load_prmbench(tmp_path)
    assert r.labels == [1.0, 0.0] and r.meta["error_steps_out_of_range"] == [3]
    r.scores = [0.9, 0.1]
    res = pm.evaluate_prmbench([r])
    assert res["n_error_steps_out_of_range"] == 1
    assert "beyond their last step" in pm.prmbench_markdown(res)
