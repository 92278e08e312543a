"""``prmkit quickstart``: the whole loop end to end in tiny mode (report, numbers better than chance,
stage reuse on a second run), plus the pieces that can be checked by hand."""

from __future__ import annotations

import json
import re
import time

import pytest
from typer.testing import CliRunner

from prmkit.cli import app
from prmkit.errors import PrmkitError
from prmkit.quickstart import STAGES, QuickstartConfig, _Run, label_accuracy, summary_markdown
from prmkit.records import Solution

# three GSM8K-format records (calculator annotations), so the --gsm8k path always runs
_GSM8K = [
    {"question": "Ann has 3 bags with 4 apples each. She eats 2. How many apples are left?",
     "answer": "She has 3*4=<<3*4=12>>12 apples.\nShe has 12-2=<<12-2=10>>10 left.\n#### 10"},
    {"question": "Tom buys 5 pens at $2 each and 1 book at $7. How much does he spend?",
     "answer": "The pens cost 5*2=<<5*2=10>>10 dollars.\nIn all 10+7=<<10+7=17>>17 dollars.\n#### 17"},
    {"question": "A box holds 6 eggs. How many eggs are in 4 boxes and 3 loose eggs?",
     "answer": "The boxes hold 6*4=<<6*4=24>>24 eggs.\nWith the loose ones 24+3=<<24+3=27>>27.\n#### 27"},
]  # fmt: skip


def test_quickstart_tiny_end_to_end_and_reuse(tmp_path):
    gsm = tmp_path / "gsm8k.jsonl"
    gsm.write_text("".join(json.dumps(r) + "\n" for r in _GSM8K), encoding="utf-8")
    out = tmp_path / "qs"
    runner = CliRunner()
    args = ["quickstart", "--tiny", "--out", str(out), "--gsm8k", str(gsm), "--seed", "0"]
    t0 = time.perf_counter()
    r = runner.invoke(app, args)
    first_s = time.perf_counter() - t0
    assert r.exit_code == 0, r.output
    report = out / "report.html"
    assert report.is_file()
    assert f"report: {report}" in r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["report"] == str(report) and s["mode"] == "tiny"
    # every stage ran and wrote its done marker
    assert list(s["stages"]) == list(STAGES)
    assert all(not t["reused"] for t in s["stages"].values())
    assert all((out / st / "done.json").is_file() for st in STAGES)
    # better than chance: labels agree with the checker. The tiny PRM itself is NOT reliably better
    # than chance yet (F1 ~0, step AUROC 0.45-0.62 across runs, see docs/quickstart.md), so its
    # numbers are checked for presence and consistency with the pass/fail marks only.
    for m in ("mc", "binary"):
        assert s["labelling"][m]["step_accuracy"] > 50.0
        assert s["labelling"][m]["rollouts"] > 0
    assert s["labelling"]["binary"]["rollouts"] < s["labelling"]["mc"]["rollouts"]
    pb = s["processbench"]
    assert (
        0.0 <= pb["f1"] <= 100.0 and 0.0 <= pb["auroc"] <= 1.0 and pb["n"] == 100 and pb["n_with_error"] == 50
    )
    assert s["checks"]["f1_at_least_80"] == (pb["f1"] >= 80.0)
    assert s["gsm8k"]["n"] == 3 and s["gsm8k"]["f1"] is not None
    acc = s["search"]["accuracy"]
    assert acc["best_of_n"] > 0.0 and acc["beam"] > 0.0
    assert acc["oracle"] >= max(acc["best_of_n"], acc["majority"], acc["first_sample"])
    assert s["checks"]["bon_beats_majority"] == (acc["best_of_n"] > acc["majority"])
    # the report holds the numbers of the summary and the plots
    html = report.read_text(encoding="utf-8")
    assert f"{s['processbench']['f1']:.1f}" in html
    assert f"{100 * acc['majority']:.1f}%" in html
    assert len(re.findall(r"<figure class='plot'", html)) >= 8
    for title in ("Summary", "Labelling", "Training", "ProcessBench: arithmetic world", "ProcessBench: GSM8K-perturb",
                  "Best-of-N", "Search"):  # fmt: skip
        assert f"<h2>{title}</h2>" in html
    assert "http" not in html.split("<body", 1)[1].replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "http://www.w3.org/1999/xlink", ""
    )

    # a second run reuses every stage and changes nothing
    mtime = report.stat().st_mtime_ns
    t0 = time.perf_counter()
    r2 = runner.invoke(app, args)
    second_s = time.perf_counter() - t0
    assert r2.exit_code == 0, r2.output
    s2 = json.loads((out / "summary.json").read_text())
    assert all(t["reused"] for t in s2["stages"].values())
    assert s2["processbench"] == s["processbench"] and s2["search"] == s["search"]
    assert report.stat().st_mtime_ns == mtime
    assert second_s < first_s / 3


def test_stage_keys_invalidate_only_downstream(tmp_path):
    def keys(**kw):
        kw = {"tiny": True, **kw}
        run = _Run(QuickstartConfig(out=str(tmp_path), **kw).resolved(), lambda s: None)
        for st in STAGES:
            run.keys[st] = run.key(st)
        return run.keys

    base = keys()
    assert base == keys()
    steps = keys(train_steps=7)
    changed = {st for st in STAGES if steps[st] != base[st]}
    assert changed == {"train", "evaluate", "search", "report"}
    mc = keys(mc_n=3)
    assert {st for st in STAGES if mc[st] != base[st]} == {
        "label-mc",
        "train",
        "evaluate",
        "search",
        "report",
    }
    assert keys(seed=1)["problems"] != base["problems"]
    assert keys(tiny=False)["problems"] != base["problems"]


def test_label_accuracy_by_hand():
    # truth: a has its first error at step 1, b none; labels: a right at 0 and 1, b wrong at 1
    recs = [
        Solution(id="a", problem="p", steps=["x", "y", "z"], labels=[1, 0, None]),
        Solution(id="b", problem="p", steps=["x", "y", "z"], labels=[1, 0, None]),
    ]
    r = label_accuracy(recs, {"a": 1, "b": -1})
    # defined steps: a 0..1 (2), b 0..2 (3); labelled: 4 of 5; agree: a0, a1, b0 = 3 of 4
    assert r["step_accuracy"] == 75.0 and r["coverage"] == 80.0
    # first errors: a right (1 = 1), b wrong (1 != -1): acc_err 100, acc_corr 0, F1 0
    assert (r["acc_err"], r["acc_corr"], r["f1"]) == (100.0, 0.0, 0.0)


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(PrmkitError, match="train_labels"):
        QuickstartConfig(train_labels="judge").resolved()
    with pytest.raises(PrmkitError, match="gsm8k"):
        QuickstartConfig(gsm8k=str(tmp_path / "missing.jsonl")).resolved()
    with pytest.raises(PrmkitError, match="search_n"):
        QuickstartConfig(search_n=0).resolved()
    cfg = QuickstartConfig(tiny=True, train_steps=5).resolved()
    assert cfg.train_steps == 5 and cfg.n_problems is not None and cfg.n_problems < 1000


def test_recipe_and_flags(tmp_path):
    from prmkit.config import build_config

    recipe = tmp_path / "r.yaml"
    recipe.write_text("tiny: true\nsearch_n: 3\nn_search: 9\n", encoding="utf-8")
    cfg = build_config(QuickstartConfig, str(recipe), {"seed": 4, "out": None}).resolved()
    assert (cfg.tiny, cfg.search_n, cfg.n_search, cfg.seed, cfg.out) == (True, 3, 9, 4, "runs/quickstart")
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_problem: 3\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["quickstart", "--config", str(bad), "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "n_problem" in str(r.exception)


def test_summary_marks_fail_when_majority_wins():
    s = {"mode": "full", "labelling": {}, "processbench": {"f1": 79.9, "n": 4}, "gsm8k": None,
         "search": {"n": 4, "n_problems": 2, "accuracy": {"best_of_n": 0.5, "majority": 0.5, "beam": 0.5,
                                                          "weighted_vote": 0.5, "oracle": 1.0, "first_sample": 0.5}},
         "checks": {"f1_at_least_80": False, "bon_beats_majority": False}}  # fmt: skip
    md = summary_markdown(s, {"train": {"seconds": 3.0, "cpu_seconds": 2.0, "reused": True}})
    assert md.count("| FAIL |") == 2 and "| train | 3.0 | 2.0 | reused |" in md
