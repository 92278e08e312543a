"""``QuickstartConfig``: every option of ``prmkit quickstart`` (``make demo``), with its presets.

Example:
    >>> cfg = QuickstartConfig(tiny=True).resolved()
    >>> cfg.n_bench, cfg.search_n
    (100, 4)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prmkit.config import check_choice, check_min, check_positive, check_range
from prmkit.config import help_field as _h
from prmkit.errors import PrmkitError

TRAIN_LABEL_SOURCES = ("binary", "mc", "exact")
#: answer-selection variants the demo tunes among (aggregation, answer rule), chosen on the tuning set
BON_VARIANTS = (
    ("min", "best_of_n"),
    ("last", "best_of_n"),
    ("min", "weighted_vote"),
    ("last", "weighted_vote"),
)


@dataclass
class QuickstartConfig:
    """Options of :func:`prmkit.quickstart.run_quickstart`. ``None`` = the preset's value."""

    out: str = _h("output directory (one subdirectory per stage)", "runs/quickstart")
    tiny: bool = _h("reduced sizes (a few hundred problems, short training), for tests", False)
    seed: int = _h("seed of every stage", 0)
    gsm8k: str | None = _h(
        "GSM8K JSONL (e.g. ../shared/data/gsm8k/test.jsonl): also evaluate on gsm8k-perturb"
    )
    gsm8k_limit: int | None = _h("GSM8K records used (evenly from the file's start); null = preset")
    quiet: bool | None = _h("no progress bars or stage lines (default: the global --quiet)")
    threads: int | None = _h("torch CPU threads while the quickstart runs (default: all cores)")
    # world and policy
    n_problems: int | None = _h("training problems")
    samples_per_problem: int | None = _h("policy samples per training problem")
    min_ops: int = _h("fewest operations per problem", 2)
    max_ops: int = _h("most operations per problem", 8)
    max_value: int = _h("largest quantity in a problem", 1000)
    max_given: int = _h("largest number stated in a problem", 50)
    error_rate: float = _h("the arith policy's per-step error rate (sampling, rollouts, search)", 0.15)
    miracle_rate: float = _h("the arith policy's miracle rate", 0.02)
    # labelling
    mc_n: int | None = _h("Monte Carlo rollouts per prefix")
    binary_n: int | None = _h("rollouts per binary-search estimate")
    train_labels: str = _h("labels the main PRM trains on: binary | mc | exact (the checker)", "mc")
    compare_exact: bool = _h("also train a PRM on exact labels, to show what label noise costs", True)
    # training
    base: str = _h(
        "model the PRM is fine-tuned from: 'arith-base' (the packaged base LM pretrained on the world), "
        "'tiny' (random weights: the learnability baseline) or a checkpoint directory",
        "arith-base",
    )
    train_steps: int | None = _h("optimizer steps")
    batch_size: int | None = _h("training batch size")
    lr: float | None = _h("peak learning rate")
    time_budget_s: float | None = _h("stop training after this many seconds (checkpoint still written)")
    # evaluation and search
    n_bench: int | None = _h("arithmetic ProcessBench records (half with an error)")
    n_tune: int | None = _h("problems of the tuning set that picks the best-of-N answer rule")
    n_search: int | None = _h("held-out search problems")
    search_n: int | None = _h("N: samples for best-of-N, beams for beam search")
    n_beam: int | None = _h("search problems that beam search also runs on (its cost grows with N x steps)")
    beam_width: int | None = _h("beam search: expansions per kept beam")
    search_error_rate: float = _h(
        "the arith policy's per-step error rate in the search stage: a weaker policy (one sample right "
        "about 1 time in 4), where majority vote of 16 is not saturated (at 0.15 it is right 99% of the time)",
        0.3,
    )
    n_bootstrap: int = _h("bootstrap resamples for the confidence interval of best-of-N minus majority", 2000)

    def __post_init__(self) -> None:
        check_choice(self, "train_labels", TRAIN_LABEL_SOURCES)
        check_min(self, 1, "n_problems", "samples_per_problem", "mc_n", "binary_n", "train_steps", "batch_size",
                  "n_bench", "n_tune", "n_search", "search_n", "beam_width", "threads", "n_bootstrap",
                  "max_value", "max_given")  # fmt: skip
        check_min(self, 0, "n_beam", "gsm8k_limit")
        check_positive(self, "lr", "time_budget_s")
        check_range(self, 0.0, 1.0, "error_rate", "miracle_rate", "search_error_rate")
        check_range(self, 0, 2**32 - 1, "seed")  # seeds numpy (training, bootstrap): no negative seed
        check_min(self, 1, "min_ops")
        check_min(self, self.min_ops, "max_ops")  # names --max-ops when it is the one below --min-ops
        if self.gsm8k is not None and not Path(self.gsm8k).is_file():
            raise PrmkitError(f"GSM8K file not found: {self.gsm8k}", field="gsm8k")

    def resolved(self) -> QuickstartConfig:
        """A copy with every ``None`` size filled from the preset (``tiny`` or ``full``)."""
        preset = PRESETS["tiny" if self.tiny else "full"]
        return QuickstartConfig(
            **{
                k: preset[k] if getattr(self, k) is None and k in preset else getattr(self, k)
                for k in _names()
            }
        )


def _names() -> list[str]:
    return [f.name for f in dataclasses.fields(QuickstartConfig)]


#: sizes per mode (docs/quickstart.md has the numbers each gives)
PRESETS: dict[str, dict[str, Any]] = {
    "full": dict(
        n_problems=1500, samples_per_problem=2, mc_n=4, binary_n=4, train_steps=150, batch_size=32, lr=1e-3,
        n_bench=1000, n_tune=150, n_search=500, search_n=16, n_beam=100, beam_width=4, gsm8k_limit=400,
    ),
    "tiny": dict(
        n_problems=100, samples_per_problem=2, mc_n=2, binary_n=2, train_steps=30, batch_size=16, lr=1e-3,
        n_bench=100, n_tune=20, n_search=30, search_n=4, n_beam=10, beam_width=2, gsm8k_limit=60,
    ),
}  # fmt: skip
