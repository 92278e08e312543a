"""RL with process rewards on the embedded arithmetic world: outcome vs sum-form vs min-form.

Writes benchmarks/results/rl_experiment.json and docs/rl_experiment.png (see docs/rl.md).

    python benchmarks/rl_credit_experiment.py            # default (~10-15 min on 2 shared cores)
    python benchmarks/rl_credit_experiment.py --tiny     # < 60 s smoke run (numbers meaningless)
    python benchmarks/rl_credit_experiment.py --arms outcome,sum,min,hybrid --rl-steps 40
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from prmkit.rl.experiment import ExperimentConfig, run_experiment

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="smoke configuration (< 60 s)")
    ap.add_argument("--arms", default=None, help="comma-separated: outcome,sum,min,hybrid,exact-min")
    ap.add_argument("--rl-steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/rl_experiment[_tiny].json)"
    )
    ap.add_argument(
        "--plot", default=None, help="PNG path (default docs/rl_experiment.png; none with --tiny)"
    )
    a = ap.parse_args(argv)
    results = ROOT / "benchmarks" / "results"
    if a.out is None:  # a smoke run never overwrites the measured results
        a.out = str(results / ("rl_experiment_tiny.json" if a.tiny else "rl_experiment.json"))
    if a.plot is None and not a.tiny:
        a.plot = str(ROOT / "docs" / "rl_experiment.png")
    cfg = ExperimentConfig.tiny() if a.tiny else ExperimentConfig()
    if a.arms:
        cfg.arms = [x.strip() for x in a.arms.split(",") if x.strip()]
    for k in ("rl_steps", "seed", "threads"):
        if getattr(a, k) is not None:
            setattr(cfg, k, getattr(a, k))
    res = run_experiment(cfg, out_json=a.out, plot_path=a.plot or None)
    summary = {
        "sft": res["sft"]["eval"],
        **{arm: r["final"] for arm, r in res["arms"].items()},
        "total_seconds": round(res["total_seconds"], 1),
    }
    print(json.dumps(summary, indent=1))
    return res


if __name__ == "__main__":
    main()
