"""Options of a search run: :class:`SearchConfig` (one dataclass for every method) and
:data:`METHOD_FIELDS` (which fields each method reads; its keys are the method names, the same
as the keys of :data:`prmkit.search.SEARCHES`, which a test checks).

Example:
    >>> SearchConfig(method="beam", n=8, width=2).validate().width
    2
    >>> SearchConfig(n=0).validate()
    Traceback (most recent call last):
    ...
    prmkit.errors.PrmkitError: field 'n': must be >= 1, got 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from prmkit.aggregate import ANSWER_RULES, STEP_AGGREGATIONS
from prmkit.errors import PrmkitError


def _h(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class SearchConfig:
    """Options of a search run (one dataclass for every method; ``--config recipe.yaml`` + flags).

    Which fields a method reads is listed in :data:`METHOD_FIELDS`.
    """

    method: str = field(default="best-of-n", metadata=_h("search method (a key of SEARCHES)"))
    n: int = field(default=16, metadata=_h("number of samples / beams / candidates per step (greedy)"))
    width: int = field(
        default=4, metadata=_h("beam width M: expansions per survivor (beam, DVTS, MCTS branching)")
    )
    agg: str = field(default="min", metadata=_h("step -> solution score aggregation (prmkit.aggregate)"))
    answer_rule: str = field(
        default="best_of_n", metadata=_h("answer rule among candidates (prmkit.aggregate)")
    )
    answer_params: dict[str, Any] = field(
        default_factory=dict, metadata=_h("answer rule parameters (tau, w)")
    )
    max_steps: int = field(default=20, metadata=_h("step budget per candidate"))
    max_tokens: int | None = field(default=None, metadata=_h("generated-token budget per candidate"))
    max_total_tokens: int | None = field(default=None, metadata=_h("generated-token budget per problem"))
    lookahead: int = field(default=0, metadata=_h("beam: extra steps rolled out only for scoring"))
    filter_duplicates: bool = field(default=True, metadata=_h("beam: drop exact-duplicate beams"))
    seed: int = field(default=0, metadata=_h("base seed; per-call seeds are derived from it"))
    batch_problems: int | None = field(
        default=None,
        metadata=_h(
            "problems searched together: one policy and one scorer call per step for all of them "
            "(default: the policy's preferred_batch_problems: hf batch_size/2, openai 2*max_concurrency, "
            "vllm 64, others 1); results do not depend on it"
        ),
    )
    # MCTS (docs/methods.md#e4-mcts)
    mcts_iterations: int = field(default=16, metadata=_h("MCTS iterations (select/expand/backup)"))
    mcts_selection: str = field(default="puct", metadata=_h("'puct' (OpenR/AlphaZero) or 'uct' (VersaPRM)"))
    c_puct: float = field(default=1.25, metadata=_h("PUCT c_init"))
    c_puct_base: float = field(default=19652.0, metadata=_h("PUCT c_base"))
    c_uct: float = field(default=math.sqrt(2), metadata=_h("UCT exploration constant"))
    mcts_rollout: bool = field(default=True, metadata=_h("MCTS: greedy PRM-guided descent after expansion"))
    # early rejection (E5)
    tau: int = field(default=64, metadata=_h("early rejection: tokens of a partial step before scoring"))
    # PATS (E6)
    pats_candidates: list[int] = field(default_factory=lambda: [8, 4, 2], metadata=_h("candidates per mode"))
    pats_initial_mode: int = field(default=0, metadata=_h("PATS initial mode (0 = most candidates)"))
    v_high: float = field(default=0.85, metadata=_h("PATS: score to move to a cheaper mode"))
    v_low: float = field(default=0.75, metadata=_h("PATS: score under which to reset to mode 0"))
    bad_step: float = field(default=0.4, metadata=_h("PATS: score under which a step is rejected once"))
    penalty_times: int = field(default=1, metadata=_h("PATS: consecutive rejections allowed"))
    pats_max_iterations: int = field(default=35, metadata=_h("PATS: iteration cap"))

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> SearchConfig:
        """Check ranges and names; raises :class:`PrmkitError` naming the field."""
        if self.method not in METHOD_FIELDS:
            known = ", ".join(sorted(METHOD_FIELDS))
            raise PrmkitError(f"unknown search method '{self.method}'; known: {known}", field="method")
        STEP_AGGREGATIONS.get(self.agg)
        ANSWER_RULES.get(self.answer_rule)
        for name in ("n", "width", "max_steps", "mcts_iterations", "tau", "pats_max_iterations"):
            if int(getattr(self, name)) < 1:
                raise PrmkitError(f"must be >= 1, got {getattr(self, name)}", field=name)
        for name in ("max_tokens", "max_total_tokens", "batch_problems"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise PrmkitError(f"must be >= 1 or null, got {v}", field=name)
        if self.lookahead < 0:
            raise PrmkitError("must be >= 0", field="lookahead")
        if self.mcts_selection not in ("puct", "uct"):
            raise PrmkitError("must be 'puct' or 'uct'", field="mcts_selection")
        if not self.pats_candidates or any(int(k) < 1 for k in self.pats_candidates):
            raise PrmkitError("must be a non-empty list of positive counts", field="pats_candidates")
        if not 0 <= self.pats_initial_mode < len(self.pats_candidates):
            raise PrmkitError("must index pats_candidates", field="pats_initial_mode")
        for name in ("c_puct", "c_uct", "v_high", "v_low", "bad_step"):
            if not math.isfinite(float(getattr(self, name))):
                raise PrmkitError(f"must be a finite number, got {getattr(self, name)}", field=name)
        for name in ("c_puct", "c_uct", "penalty_times"):
            if getattr(self, name) < 0:
                raise PrmkitError(f"must be >= 0, got {getattr(self, name)}", field=name)
        if not (self.c_puct_base > 0 and math.isfinite(self.c_puct_base)):
            raise PrmkitError(f"must be > 0, got {self.c_puct_base}", field="c_puct_base")
        if self.v_low > self.v_high:
            raise PrmkitError(f"must be <= v_high ({self.v_high}), got {self.v_low}", field="v_low")
        return self


#: config fields each method reads (besides seed, agg, answer_rule, answer_params, max_* budgets)
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "best-of-n": ("n",),
    "beam": ("n", "width", "lookahead", "filter_duplicates"),
    "dvts": ("n", "width"),
    "greedy": ("n",),
    "mcts": ("width", "mcts_iterations", "mcts_selection", "c_puct", "c_puct_base", "c_uct", "mcts_rollout"),
    "early-rejection": ("n", "width", "tau"),
    "pats": (
        "pats_candidates",
        "pats_initial_mode",
        "v_high",
        "v_low",
        "bad_step",
        "penalty_times",
        "pats_max_iterations",
    ),
}
