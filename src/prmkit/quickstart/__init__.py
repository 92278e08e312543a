"""``prmkit quickstart`` (``make demo``): the whole PRM loop on the built-in arithmetic world, on a CPU.

Stages (each cached by :class:`~prmkit.quickstart.cache.StageCache`: a rerun with the same config
reuses it and says "reused"):

1. ``problems``      training, tuning and search problems and the arithmetic ProcessBench set
2. ``sample``        solutions from the noisy ``arith`` policy, exact truth kept in ``meta``
3. ``label-mc``      Monte Carlo labels (Math-Shepherd): accuracy against the checker, rollouts spent
4. ``label-binary``  binary search for the first error (OmegaPRM), same measurements
5. ``train``         the PRM fine-tuned from the packaged base LM (``arith-base``) on the demo's labels
6. ``train-exact``   the same PRM on exact labels, to show what label noise costs
7. ``evaluate``      first-error F1 of the PRMs, the calculator and the oracle on the bench
8. ``search``        best-of-N (answer rule tuned on separate problems) vs majority vote, beam search
9. ``report``        one self-contained HTML page with every plot and the summary table

Example::

    from prmkit.quickstart import QuickstartConfig, run_quickstart
    summary = run_quickstart(QuickstartConfig(out="runs/qs", tiny=True))
    summary["report"], summary["checks"]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from prmkit.progress import is_quiet
from prmkit.quickstart import stages
from prmkit.quickstart.cache import StageCache
from prmkit.quickstart.config import PRESETS, QuickstartConfig
from prmkit.quickstart.report import build_html, build_summary, summary_markdown
from prmkit.quickstart.stages import label_accuracy, step_auroc

__all__ = [
    "PRESETS",
    "STAGES",
    "QuickstartConfig",
    "label_accuracy",
    "run_quickstart",
    "step_auroc",
    "summary_markdown",
]

_WORLD = ("seed", "min_ops", "max_ops", "max_value", "max_given", "error_rate", "miracle_rate")
_TRAIN = ("seed", "base", "train_steps", "batch_size", "lr", "time_budget_s")
#: stage -> the config fields its result depends on (besides the stages it reads)
STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "problems": (*_WORLD, "n_problems", "n_bench", "n_tune", "n_search"),
    "sample": ("seed", "samples_per_problem", "error_rate", "miracle_rate"),
    "label-mc": ("seed", "mc_n", "error_rate", "miracle_rate"),
    "label-binary": ("seed", "binary_n", "error_rate", "miracle_rate"),
    "train": (*_TRAIN, "train_labels"),
    "train-exact": _TRAIN,
    "evaluate": ("gsm8k", "gsm8k_limit", "seed"),
    "search": (
        "seed",
        "search_n",
        "n_beam",
        "beam_width",
        "search_error_rate",
        "miracle_rate",
        "n_bootstrap",
    ),
    "report": (),
}
STAGES = tuple(STAGE_FIELDS)
DEPS: dict[str, tuple[str, ...]] = {
    "problems": (),
    "sample": ("problems",),
    "label-mc": ("sample",),
    "label-binary": ("sample",),
    "train": ("label-mc", "label-binary"),
    "train-exact": ("sample",),
    "evaluate": ("problems", "train", "train-exact"),
    "search": ("problems", "train"),
    "report": ("label-mc", "label-binary", "train", "train-exact", "evaluate", "search"),
}


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def run_quickstart(cfg: QuickstartConfig, *, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the whole PRM loop on the arithmetic world; returns the summary dict.

    The summary (also written to ``OUT/summary.json``) holds the report path, every stage's
    seconds and whether it was reused, label accuracy and rollouts per method, the PRMs' and the
    calculator's first-error F1, search accuracies with the bootstrap interval, and ``checks``.
    """
    cfg = cfg.resolved()
    cfg.quiet = cfg.quiet if cfg.quiet is not None else is_quiet()
    if log is None:
        log = (lambda s: None) if cfg.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run_all(cfg, log)
    finally:
        torch.set_num_threads(threads)


def _run_all(cfg: QuickstartConfig, log: Callable[[str], None]) -> dict[str, Any]:
    t_start = time.perf_counter()
    fields = dict(STAGE_FIELDS)
    deps = dict(DEPS)
    if not cfg.compare_exact:
        del fields["train-exact"]
        deps = {k: tuple(d for d in v if d != "train-exact") for k, v in deps.items() if k != "train-exact"}
    cache = StageCache(cfg, fields, deps, log, extra_key={"tiny": cfg.tiny})
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    f = _fmt

    cache.run("problems", lambda d: stages.stage_problems(cfg, cache, d),
              lambda r: f"{r['n_train']} training / {r['n_tune']} tuning / {r['n_search']} search problems, "
                        f"{r['n_bench']} bench solutions")  # fmt: skip
    cache.run("sample", lambda d: stages.stage_sample(cfg, cache, d),
              lambda r: f"{r['n_solutions']} solutions, {f(r['pct_with_error'])}% with an error")  # fmt: skip
    for method in ("mc", "binary"):
        cache.run(f"label-{method}", lambda d, m=method: stages.stage_label(cfg, cache, d, m),
                  lambda r: f"label accuracy {f(r['step_accuracy'])}% (first-error F1 {f(r['f1'])}), "
                            f"{r['rollouts']} rollouts ({f(r['rollouts_per_solution'])}/solution)")  # fmt: skip
    train_line = lambda r: f"{r['format']} PRM on {r['label_source']} labels, {f(r['train_runtime_s'])} s"  # noqa: E731
    cache.run("train", lambda d: stages.stage_train(cfg, cache, d, cfg.train_labels), train_line)
    if cfg.compare_exact:
        cache.run("train-exact", lambda d: stages.stage_train(cfg, cache, d, "exact"), train_line)
    cache.run("evaluate", lambda d: stages.stage_evaluate(cfg, cache, d),
              lambda r: ", ".join(f"{k} F1 {f(v['arith']['f1'])}" for k, v in r.items()))  # fmt: skip
    cache.run("search", lambda d: stages.stage_search(cfg, cache, d),
              lambda r: f"best-of-{r['n']} {100 * r['accuracy']['prm']:.1f}% vs majority "
                        f"{100 * r['accuracy']['majority']:.1f}%")  # fmt: skip
    summary = build_summary(cfg, cache)
    cache.run("report", lambda d: build_html(cfg, cache, summary, d), lambda r: r["path"])
    summary["report"] = cache.results["report"]["path"]
    summary["stages"] = cache.timing
    summary["total_seconds"] = round(time.perf_counter() - t_start, 2)
    out = Path(cfg.out) / "summary.json"
    out.write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    return summary
