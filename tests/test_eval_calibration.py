"""Calibration (docs/methods.md#g-calibration): ECE, Brier, reliability, pinball loss, IAS, quantile calibrator."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prmkit.cli import app
from prmkit.errors import PrmkitError
from prmkit.evaluate.calibration import (
    QuantileCalibrator,
    auroc,
    brier,
    ece,
    evaluate_calibration,
    n_ias,
    pinball_loss,
    reliability_diagram,
)
from prmkit.records import Solution, write_records


def test_g1_pinball_examples() -> None:
    q = [0.1, 0.5, 0.9]
    s = [0.5, 0.6, 0.7]
    per = [pinball_loss([x], 0.4, [qq]) for x, qq in zip(s, q, strict=True)]
    assert per == pytest.approx([0.09, 0.10, 0.03])
    assert pinball_loss(s, 0.4, q) == pytest.approx(0.0733, abs=1e-4)
    assert pinball_loss(s, 0.8, q) == pytest.approx(0.0733, abs=1e-4)


def test_g2_ias_examples() -> None:
    assert [n_ias(p, 0.99) for p in (0.3, 0.6, 0.9, 0.1, 0.05)] == [13, 6, 2, 44, 90]


def test_auroc_hand_computed_and_against_pair_counting() -> None:
    # positives [0.9, 0.8, 0.4] vs negatives [0.4, 0.1]: 6 pairs; 0.9 and 0.8 win both (4),
    # 0.4 ties 0.4 (0.5) and beats 0.1 (1) -> 5.5 / 6
    assert auroc([0.9, 0.8, 0.4], [0.4, 0.1]) == pytest.approx(5.5 / 6)
    assert auroc([0.1, 0.2], [0.3]) == 0.0 and auroc([0.5], [0.5]) == 0.5
    assert auroc([], [0.3]) is None and auroc([0.3], []) is None
    with pytest.raises(PrmkitError, match="finite"):
        auroc([float("nan")], [0.1])
    # an independent O(n*m) count over all pairs, on data with many ties
    rng = random.Random(3)
    pos = [round(rng.random(), 1) for _ in range(40)]
    neg = [round(rng.random() * 0.8, 1) for _ in range(25)]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    assert auroc(pos, neg) == pytest.approx(pairs / (len(pos) * len(neg)), abs=1e-12)


def test_ece_brier_reliability() -> None:
    p, y = [0.9, 0.9, 0.1, 0.1], [1, 0, 0, 0]
    assert ece(p, y, 10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert brier(p, y) == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)
    bins = reliability_diagram(p, y, 10)
    assert bins[9]["count"] == 2 and bins[9]["mean_label"] == 0.5 and bins[5]["mean_score"] is None
    assert ece([0.3, 0.7], [0.3, 0.7]) == 0.0  # soft labels, perfectly calibrated
    with pytest.raises(PrmkitError, match="outside"):
        ece([1.5], [1])


def test_quantile_calibrator_fit_apply_roundtrip(tmp_path: Path) -> None:
    rng = random.Random(0)
    scores = [rng.random() for _ in range(400)]
    targets = [min(1.0, max(0.0, s + rng.uniform(-0.2, 0.2))) for s in scores]
    cal = QuantileCalibrator.fit(scores, targets, n_bins=8)
    lo, mid, hi = cal.apply(0.5)
    assert lo <= mid <= hi and 0.3 < mid < 0.7
    meds = [cal.apply(s)[1] for s in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert meds == sorted(meds)  # monotone in the score
    # the calibrated quantiles fit better than the raw score repeated at every level
    raw = sum(pinball_loss([s, s, s], t) for s, t in zip(scores, targets, strict=True)) / len(scores)
    assert cal.loss(scores, targets) <= raw + 1e-9
    path = cal.save(tmp_path / "cal.json")
    assert QuantileCalibrator.load(path) == cal
    path.write_text("{}")
    with pytest.raises(PrmkitError, match="cal.json"):
        QuantileCalibrator.load(path)


def test_cli_calibration(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    write_records(f, [Solution(id="a", problem="q", steps=["x", "y"], scores=[0.25, 0.75], labels=[0, 1])])
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "calibration",
            "--scores",
            str(f),
            "--n-bins",
            "2",
            "--out",
            str(out),
            "--fit-quantiles",
            str(tmp_path / "q.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "ECE 0.2500" in res.stdout and "Brier 0.0625" in res.stdout
    assert json.loads((tmp_path / "q.json").read_text())["quantiles"] == [0.1, 0.5, 0.9]
    assert evaluate_calibration([0.25, 0.75], [0, 1], 2)["ece"] == 0.25
