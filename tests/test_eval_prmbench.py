"""PRMBench F1 / negative F1 / PRMScore (docs/methods.md#a2-prmbench), data loading and the CLI."""

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
    # no error steps: negative F1 undefined, PRMScore = F1 alone (official rule)
    assert ms["negative_f1"] is None and ms["f1"] == pytest.approx(2 / 3) and ms["prmscore"] == ms["f1"]
    # overall: tp=3 fn=2 tn=1 fp=1 -> F1 = 2*0.75*0.6/1.35, F1_neg = 2*(1/3)*(1/2)/(5/6)
    o = res["overall"]
    assert o["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert o["negative_f1"] == pytest.approx(0.4)
    assert o["prmscore"] == pytest.approx(0.5 * 2 * 0.75 * 0.6 / 1.35 + 0.5 * 0.4)
    assert res["weights"]["verified"] is True and res["f1_only_classes"] == ["multi_solutions"]


def test_multi_solutions_prmscore_is_f1_alone_hand_computed() -> None:
    """Two multi-solution instances (every step correct), 7 steps, threshold 0.5 (strict):
    predicted valid: 0.9 0.51 0.5 0.2 | 0.7 0.6 0.1 -> TP = 4, FN = 3, FP = TN = 0.
    precision = 4/4 = 1, recall = 4/7, F1 = 2 * 1 * 4/7 / (1 + 4/7) = 8/11 = 0.72727...
    PRMScore = F1 = 8/11 (0.5 * F1 + 0.5 * negative F1 would be undefined: no error steps)."""
    recs = [
        Solution(
            id="m1",
            problem="q",
            steps=list("abcd"),
            scores=[0.9, 0.51, 0.5, 0.2],
            labels=[1, 1, 1, 1],
            meta={"classification": "multi_solutions"},
        ),
        Solution(
            id="m2",
            problem="q",
            steps=list("abc"),
            scores=[0.7, 0.6, 0.1],
            labels=[1, 1, 1],
            meta={"classification": "multi_solutions"},
        ),
    ]
    ms = pm.evaluate_prmbench(recs)["categories"]["multi_solutions"]
    assert (ms["tp"], ms["fn"], ms["fp"], ms["tn"]) == (4, 3, 0, 0)
    assert ms["prmscore"] == pytest.approx(8 / 11)
    assert ms["negative_f1"] is None


def test_redundancy_classes_read_redundancy_labels_when_given() -> None:
    """redundency/circular read the model's redundancy labels (valid = not redundant) instead
    of the scores, as the official evaluator; other classes ignore them."""
    meta = {"redundancy_labels": [False, True, True, False]}
    labels = [1, 1, 0, 0]  # steps 3 and 4 are the errors
    scores = [0.9, 0.9, 0.9, 0.9]  # would all be valid by score
    red = Solution(
        id="r",
        problem="q",
        steps=list("abcd"),
        scores=scores,
        labels=labels,
        meta={"classification": "redundency", **meta},
    )
    other = Solution(
        id="o",
        problem="q",
        steps=list("abcd"),
        scores=scores,
        labels=labels,
        meta={"classification": "confidence", **meta},
    )
    res = pm.evaluate_prmbench([red, other])
    # valid = [T, F, F, T]: step1 correct&valid TP, step2 correct&invalid FN, step3 error&invalid TN,
    # step4 error&valid FP
    r = res["categories"]["redundency"]
    assert (r["tp"], r["fn"], r["tn"], r["fp"]) == (1, 1, 1, 1)
    c = res["categories"]["confidence"]
    assert (c["tp"], c["fn"], c["tn"], c["fp"]) == (2, 0, 0, 2)
    bad = Solution(
        id="b",
        problem="q",
        steps=list("ab"),
        scores=[0.9, 0.9],
        labels=[1, 0],
        meta={"classification": "circular", "redundancy_labels": [True]},
    )
    with pytest.raises(PrmkitError, match="redundancy_labels must be one bool per step"):
        pm.evaluate_prmbench([bad])


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
