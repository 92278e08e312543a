"""``prmkit quickstart``: the whole loop end to end in tiny mode (report, numbers, stage reuse on a
second run), plus the pieces that can be checked by hand."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from prmkit.errors import PrmkitError
from prmkit.quickstart import DEPS, STAGE_FIELDS, STAGES, QuickstartConfig, label_accuracy, run_quickstart
from prmkit.quickstart.cache import StageCache
from prmkit.quickstart.report import summary_markdown
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
    cfg = QuickstartConfig(tiny=True, out=str(out), gsm8k=str(gsm), seed=0, quiet=True, threads=1)
    t0 = time.perf_counter()
    s = run_quickstart(cfg)
    first_s = time.perf_counter() - t0
    report = out / "report.html"
    assert s["report"] == str(report) and report.is_file() and s["mode"] == "tiny"
    assert s == json.loads((out / "summary.json").read_text())
    assert list(s["stages"]) == list(STAGES)
    assert not any(t["reused"] for t in s["stages"].values())
    # labels agree with the checker better than chance; binary search spends fewer rollouts than MC
    for m in ("mc", "binary"):
        assert s["labelling"][m]["step_accuracy"] > 50.0
    assert 0 < s["labelling"]["binary"]["rollouts"] < s["labelling"]["mc"]["rollouts"]
    pb = s["processbench"]
    assert set(pb) == {"prm", "prm-exact", "calculator", "oracle"}
    assert pb["prm"]["n"] == 100 and pb["prm"]["n_with_error"] == 50
    # the oracle IS the bench's truth; the calculator catches the slips but not the wrong operands
    assert pb["oracle"]["f1"] == 100.0 and 30.0 < pb["calculator"]["f1"] < 100.0
    # the PRM starts from the pretrained base LM: better than chance even after a few steps
    assert pb["prm"]["auroc"] > 0.6
    assert s["checks"]["prm_f1_80"] == (pb["prm"]["f1"] >= 80.0)
    assert s["checks"]["prm_beats_calculator"] == (pb["prm"]["f1"] > pb["calculator"]["f1"])
    assert s["gsm8k"]["n"] == 3
    sr = s["search"]
    a = sr["accuracy"]
    assert a["pass_at_n"] >= max(a["prm"], a["majority"], a["one_sample"])
    assert abs(a["diff"] - (a["prm"] - a["majority"])) < 1e-12
    lo, hi = sr["diff_ci95"]
    assert lo <= a["diff"] <= hi
    assert f"{sr['chosen']['agg']}/{sr['chosen']['rule']}" == max(sr["tuning"], key=sr["tuning"].get)
    assert [k for k, _ in sr["curves"]["prm"]] == [1, 2, 4] and sr["curves"]["prm"][-1][1] == a["prm"]
    # the report holds the summary's numbers, every section and no external URL
    html = report.read_text(encoding="utf-8")
    assert f"{pb['prm']['f1']:.1f}" in html and f"{100 * a['majority']:.1f}%" in html
    for title in ("Summary", "Labelling", "Training", "ProcessBench: arithmetic world", "Search"):
        assert f"<h2>{title}</h2>" in html
    assert "total (stages run now)" in html
    body = html.split("<body", 1)[1]
    assert "http" not in re.sub(r'xmlns(:xlink)?="http://www\.w3\.org/[^"]*"', "", body)

    # every measure of the README's demo table is a key of this summary
    from test_readme import readme_rows

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from demo_prm import lookup

    for _, path, _ in readme_rows():
        lookup(s, path)

    # a second run reuses every stage and changes nothing
    mtime = report.stat().st_mtime_ns
    t0 = time.perf_counter()
    s2 = run_quickstart(cfg)
    assert all(t["reused"] for t in s2["stages"].values())
    assert s2["processbench"] == s["processbench"] and s2["search"] == s["search"]
    assert report.stat().st_mtime_ns == mtime
    assert time.perf_counter() - t0 < first_s / 3


def test_stage_keys_invalidate_only_downstream(tmp_path):
    def keys(**kw):
        cfg = QuickstartConfig(out=str(tmp_path), **{"tiny": True, **kw}).resolved()
        cache = StageCache(cfg, STAGE_FIELDS, DEPS, lambda s: None, extra_key={"tiny": cfg.tiny})
        for st in STAGES:
            cache.keys[st] = cache.key(st)
        return cache.keys

    base = keys()
    assert base == keys()
    diff = lambda k: {st for st in STAGES if k[st] != base[st]}  # noqa: E731
    assert diff(keys(train_steps=7)) == {"train", "train-exact", "evaluate", "search", "report"}
    assert diff(keys(mc_n=3)) == {"label-mc", "train", "evaluate", "search", "report"}
    assert diff(keys(search_n=3)) == {"search", "report"}
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


def _summary(**checks):
    return {"mode": "full", "base_model": {"accuracy": {"+": 0.99, "-": 0.9}},
            "labelling": {"mc": {"n": 4, "step_accuracy": 90.0, "f1": 70.0, "rollouts_per_solution": 3.0}},
            "processbench": {"prm": {"f1": 79.9, "n": 4}, "calculator": {"f1": 85.0, "n": 4}},
            "search": {"n": 4, "n_problems": 2, "chosen": {"agg": "min", "rule": "best_of_n"},
                       "accuracy": {"prm": 0.5, "majority": 0.5, "diff": 0.0, "pass_at_n": 1.0, "one_sample": 0.5},
                       "diff_ci95": [-0.1, 0.1]},
            "checks": checks}  # fmt: skip


def test_summary_marks_and_explains_each_failed_check():
    s = _summary(base_lm_95=False, prm_f1_80=False, prm_beats_calculator=False, bon_beats_majority_by_3=False)
    md = summary_markdown(s, {"train": {"seconds": 3.0, "cpu_seconds": 2.0, "reused": True},
                              "search": {"seconds": 4.5, "cpu_seconds": 4.0, "reused": False}})  # fmt: skip
    assert md.count("| FAIL |") == 4 and "| PASS |" not in md
    for k in s["checks"]:
        assert f"- **{k}**: " in md  # every failure has its explanation line
    assert "| train | 3.0 | 2.0 | yes |" in md and "| search | 4.5 | 4.0 | no |" in md
    assert "| **total (stages run now)** | 4.5 |" in md
    ok = summary_markdown(_summary(base_lm_95=True, prm_f1_80=True, prm_beats_calculator=True,
                                   bon_beats_majority_by_3=True))  # fmt: skip
    assert ok.count("| PASS |") == 4 and "Failed checks" not in ok
