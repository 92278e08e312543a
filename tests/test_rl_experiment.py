"""The embedded-default RL experiment (benchmarks/rl_credit_experiment.py) in --tiny mode
(real SFT + RL plumbing, < 60 s)."""

import json
import sys
from pathlib import Path

import pytest

from prmkit.errors import PrmkitError
from prmkit.worlds.arith import generate_problems, reference_solution

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from rl_credit_experiment import ExperimentConfig, compact_steps, judge, run_experiment  # noqa: E402


def test_judge_flags_miracles_and_wrong_steps():
    p = generate_problems(1, seed=3, min_ops=2, max_ops=2, distractors=False)[0]
    steps = compact_steps(reference_solution(p))
    ok = judge(p, steps)
    assert ok["answer_correct"] and ok["process_correct"] and not ok["miracle"]
    bad = judge(p, ["1 + 1 = 3"] + steps)  # a wrong step, then the right answer
    assert bad["answer_correct"] and bad["miracle"] and bad["step_scores"][0] == 0.0


def test_tiny_experiment_runs_and_writes_json(tmp_path):
    cfg = ExperimentConfig.tiny()
    res = run_experiment(cfg, out_json=tmp_path / "rl.json", plot_path=tmp_path / "rl.png")
    data = json.loads((tmp_path / "rl.json").read_text())
    assert set(data["arms"]) == {"outcome", "sum", "min"}
    for arm in data["arms"].values():
        assert [h["step"] for h in arm["eval"]] == [0, cfg.rl_steps]
        assert len(arm["train"]) == cfg.rl_steps
        for k in ("accuracy", "miracle_rate", "mean_tokens", "process_accuracy"):
            assert 0.0 <= arm["final"][k] <= (cfg.max_new_tokens + 1 if k == "mean_tokens" else 1.0)
    assert (tmp_path / "rl.png").stat().st_size > 1000
    assert res["sft"]["sft_steps"] >= 1


def test_unknown_arm_is_rejected():
    with pytest.raises(PrmkitError, match="unknown arm"):
        run_experiment(ExperimentConfig(arms=["bogus"]))
