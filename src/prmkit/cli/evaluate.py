"""``prmkit eval processbench | prmbench | bon | calibration | pairwise`` (thin wrappers over
:mod:`prmkit.evaluate.run`). The Markdown summary goes to stdout, file locations to stderr.

The commands differ only in their config dataclass and runner, so they are one table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from prmkit.cli.app import app, command, group, resolve

eval_app = group(
    app, "eval", "Evaluate PRMs: ProcessBench, PRMBench, best-of-N, calibration (results JSON + HTML report)."
)

_RUN = "prmkit.evaluate.run"

#: (command, config class, runner, help)
EVALUATIONS = (
    ("processbench", "ProcessBenchConfig", "run_processbench",
     "ProcessBench: first-error accuracy, correct accuracy, F1 per subset, average F1 (fixed and tuned threshold)."),
    ("prmbench", "PRMBenchConfig", "run_prmbench", "PRMBench: F1, negative F1, PRMScore overall and per category."),
    ("bon", "BonConfig", "run_bon",
     "Best-of-N accuracy vs N for every step aggregation and answer rule (prefix and random protocols)."),
    ("calibration", "CalibrationConfig", "run_calibration",
     "Calibration of step scores: ECE, Brier, reliability diagram; optional quantile calibrator."),
    ("pairwise", "PairwiseConfig", "run_pairwise",
     "Pairwise accuracy on tool-call cases: the correct action's final-step score beats the incorrect one's."),
)  # fmt: skip


def _evaluation(runner: str, doc: str) -> Callable[[Any], None]:
    def evaluate(cfg: Any) -> None:
        outcome = resolve(f"{_RUN}:{runner}")(cfg)
        typer.echo(outcome.markdown)
        typer.echo(f"results: {outcome.results_path}\nreport:  {outcome.report_path}", err=True)

    evaluate.__doc__ = doc
    return evaluate


for _name, _config, _runner, _doc in EVALUATIONS:
    command(eval_app, _name, config=f"{_RUN}:{_config}")(_evaluation(_runner, _doc))
