"""ProcessBench metric, threshold tuning, score files and the CLI (docs/methods.md#a1-processbench)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prmkit.cli import app
from prmkit.errors import PrmkitError
from prmkit.evaluate import processbench as pb
from prmkit.records import Solution


def test_a1_how_to_test() -> None:
    scores = [[0.9, 0.8, 0.3, 0.2], [0.4, 0.9], [0.9, 0.9, 0.7, 0.6], [0.8, 0.7, 0.9], [0.9, 0.45, 0.8]]
    labels = [2, 0, 3, -1, -1]
    preds = [pb.predict_first_error(s, 0.5) for s in scores]
    assert preds == [2, 0, -1, -1, 1]
    m = pb.processbench_metrics(preds, labels)
    assert m["acc_err"] == pytest.approx(66.7, abs=0.05)
    assert m["acc_corr"] == pytest.approx(50.0)
    assert m["f1"] == pytest.approx(57.1, abs=0.05)


def test_all_predict_none_gives_zero_f1() -> None:
    m = pb.processbench_metrics([-1, -1, -1], [0, 2, -1])
    assert m["acc_err"] == 0.0 and m["acc_corr"] == 100.0 and m["f1"] == 0.0
    assert pb.processbench_metrics([1, 0], [0, -1])["f1"] == 0.0  # guard: both accuracies zero
    assert pb.processbench_metrics([0], [0])["f1"] is None  # no correct samples: undefined


def test_tuned_threshold_matches_brute_force() -> None:
    rng = random.Random(0)
    items = []
    for _ in range(60):
        n = rng.randint(1, 6)
        s = [round(rng.random(), 2) for _ in range(n)]
        y = rng.choice([-1] + list(range(n)))
        items.append((s, y))
    tau, f1 = pb.tune_threshold(items, n_grid=101)
    labels = [y for _, y in items]
    brute = []
    for k in range(101):
        t = k / 100
        m = pb.processbench_metrics([pb.predict_first_error(s, t) for s, _ in items], labels)
        brute.append(m["f1"])
    assert f1 == pytest.approx(max(brute))
    assert tau == pytest.approx(brute.index(max(brute)) / 100)


# hand-computed example: see the comments for every prediction
GSM = [([0.9, 0.2, 0.8], 1), ([0.7, 0.6], -1), ([0.3, 0.9], 1), ([0.6, 0.4, 0.9], -1)]
MATH = [([0.9, 0.45], 1), ([0.55, 0.9], -1), ([0.8, 0.7, 0.1], 2)]


def _write_scores(path: Path, partial: bool = False) -> Path:
    with open(path, "w") as fh:
        for subset, items in (("gsm8k", GSM), ("math", MATH)):
            for i, (s, y) in enumerate(items):
                sc = s[: y + 1] if partial and y != -1 else s
                rec = {
                    "id": f"{subset}-{i}",
                    "problem": "p",
                    "steps": [f"s{k}" for k in range(len(s))],
                    "scores": sc,
                    "meta": {"label": y},
                }
                fh.write(json.dumps(rec) + "\n")
    return path


def _check_hand_example(res: dict) -> None:
    fixed = res["policies"]["fixed"]
    # gsm8k @0.5: preds [1 ok, -1 ok, 0 miss, 1 miss] -> 50 / 50 / 50; math: all match -> 100
    assert fixed["subsets"]["gsm8k"]["acc_err"] == 50.0
    assert fixed["subsets"]["gsm8k"]["acc_corr"] == 50.0
    assert fixed["subsets"]["gsm8k"]["f1"] == 50.0
    assert fixed["subsets"]["math"]["f1"] == 100.0
    assert fixed["average_f1"] == 75.0
    tuned = res["policies"]["tuned"]
    # on gsm8k, tau in (0.2, 0.4] gives acc_err 50, acc_corr 100 -> F1 66.7; grid of 11 -> 0.3
    assert tuned["threshold"] == pytest.approx(0.3)
    assert tuned["tune_f1"] == pytest.approx(200 / 3)
    # math @0.3: [0.9,0.45] -> -1 (miss), [0.55,0.9] -> -1 ok, [0.8,0.7,0.1] -> 2 ok
    assert tuned["subsets"]["math"]["acc_err"] == 50.0 and tuned["subsets"]["math"]["acc_corr"] == 100.0
    assert tuned["average_f1"] == pytest.approx(200 / 3)


def test_precomputed_scores_hand_computed(tmp_path: Path) -> None:
    data = pb.read_scored(_write_scores(tmp_path / "s.jsonl"))
    res = pb.evaluate_processbench(data, n_grid=11)
    _check_hand_example(res)
    assert res["policies"]["fixed"]["first_error_delta"] == {"-1": 1, "0": 3}
    assert res["n_partial"] == 0


def test_partial_scores_give_identical_metrics(tmp_path: Path) -> None:
    data = pb.read_scored(_write_scores(tmp_path / "p.jsonl", partial=True))
    res = pb.evaluate_processbench(data, n_grid=11)
    _check_hand_example(res)
    assert res["n_partial"] == 1  # gsm8k-0: 3 steps, scored up to its labelled error at step 1


def test_score_file_errors(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"id": "gsm8k-0", "problem": "p", "steps": ["a"], "meta": {"label": -1}}) + "\n")
    with pytest.raises(PrmkitError, match=r"bad.jsonl:1: field 'scores'"):
        pb.read_scored(f)
    f.write_text(
        json.dumps(
            {"id": "gsm8k-0", "problem": "p", "steps": ["a"], "scores": [0.1, 0.2], "meta": {"label": -1}}
        )
        + "\n"
    )
    with pytest.raises(PrmkitError, match="2 values for 1 steps"):
        pb.read_scored(f)
    # ProcessBench-format records with scores are accepted too
    f.write_text(
        json.dumps({"id": "math-3", "problem": "p", "steps": ["a", "b"], "label": 1, "scores": [0.9, 0.1]})
        + "\n"
    )
    data = pb.read_scored(f)
    rec = data["math"][0]
    assert list(data) == ["math"] and rec.labels == [1.0, 0.0] and rec.first_error == 1
    assert "label" not in rec.meta  # the first error lives in the labels only
    # canonical records may give the first error as meta.label; with labels too, they must agree
    f.write_text(json.dumps({"id": "gsm8k-0", "problem": "p", "steps": ["a", "b"], "scores": [0.9, 0.1],
                             "meta": {"label": 1}}) + "\n")  # fmt: skip
    rec = pb.read_scored(f)["gsm8k"][0]
    assert rec.labels == [1.0, 0.0] and "label" not in rec.meta
    f.write_text(json.dumps({"id": "gsm8k-0", "problem": "p", "steps": ["a", "b"], "scores": [0.9, 0.1],
                             "labels": [1, 1], "meta": {"label": 1}}) + "\n")  # fmt: skip
    with pytest.raises(PrmkitError, match=r"bad.jsonl:1: field 'meta.label': 1 disagrees .* \(-1\)"):
        pb.read_scored(f)
    f.write_text(json.dumps({"id": "gsm8k-0", "problem": "p", "steps": ["a", "b"], "scores": [0.9, 0.1],
                             "meta": {"label": "1"}}) + "\n")  # fmt: skip
    with pytest.raises(PrmkitError, match=r"field 'meta.label': must be an integer"):
        pb.read_scored(f)


def test_tuning_subset_missing_is_reported() -> None:
    recs = [Solution(id="math-0", problem="p", steps=["a"], scores=[0.9], labels=[1.0])]
    res = pb.evaluate_processbench({"math": recs})
    assert "not in the data" in res["policies"]["tuned"]["error"]
    assert "not in the data" in pb.processbench_markdown(res)


def test_load_shared_processbench(shared_data: Path) -> None:
    data = pb.load_processbench(shared_data / "processbench", subsets=["gsm8k"])
    recs = data["gsm8k"]
    assert len(recs) == 400
    raw = json.loads((shared_data / "processbench" / "gsm8k.json").read_text(encoding="utf-8"))
    assert sum(d["label"] != -1 for d in raw) == 207
    assert [r.first_error for r in recs] == [d["label"] for d in raw]
    assert all(r.correct == d["final_answer_correct"] for r, d in zip(recs, raw, strict=True))


def test_hub_offline_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(PrmkitError, match="could not load Qwen/ProcessBench split 'gsm8k'|--data DIR"):
        pb.load_processbench("Qwen/ProcessBench", subsets=["gsm8k"])


def test_cli_scores_file(tmp_path: Path) -> None:
    scores = _write_scores(tmp_path / "s.jsonl")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["eval", "processbench", "--scores", str(scores), "--n-grid", "11", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "| fixed (tau=0.5000) | gsm8k | 50.0 | 50.0 | 50.0 | 2 | 2 |" in res.stdout
    assert "tuned threshold: 0.3000" in res.stdout
    saved = json.loads((out / "results.json").read_text())
    assert saved["results"]["policies"]["fixed"]["average_f1"] == 75.0
    assert saved["meta"]["config"]["n_grid"] == 11
    assert str(scores) in saved["meta"]["data"] and len(saved["meta"]["data"][str(scores)]) == 64
    html = (out / "report.html").read_text()
    for plot in (
        "processbench_f1",
        "processbench_score_hist",
        "first_error_delta",
        "processbench_reliability",
    ):
        assert f"data-plot='{plot}'" in html


def test_cli_needs_one_source(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["eval", "processbench", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "either --prm" in str(res.exception)


def test_cli_with_prm(shared_data: Path, tmp_path: Path) -> None:
    from prmkit.scorers.base import SCORERS, Scorer

    name = "test-eval-length"
    if name not in SCORERS:

        @SCORERS.register(name)
        class LengthScorer(Scorer):
            def score_batch(self, problems, steps):
                return [[0.2 if len(s) % 3 == 0 else 0.9 for s in st] for st in steps]

    res = CliRunner().invoke(
        app,
        [
            "eval",
            "processbench",
            "--format",
            name,
            "--data",
            str(shared_data / "processbench"),
            "--subsets",
            "gsm8k,math",
            "--limit",
            "60",
            "--n-grid",
            "101",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "results.json").read_text())["results"]
    assert saved["n_samples"] == {"gsm8k": 60, "math": 60}
    assert 0.0 <= saved["policies"]["tuned"]["threshold"] <= 1.0
    assert set(saved["policies"]["fixed"]["subsets"]) == {"gsm8k", "math"}
