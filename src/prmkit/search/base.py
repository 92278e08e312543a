"""Test-time search with a PRM: one signature for every method.

``search(problems, policy, scorer, config) -> list[SearchResult]`` runs the method named by
``config.method`` (a key of :data:`SEARCHES`) on each problem with any :class:`~prmkit.policies.base.Policy`
and any :class:`~prmkit.scorers.base.Scorer`. Each :class:`SearchResult` holds the chosen solution
(a canonical :class:`~prmkit.records.Solution` with step scores), every candidate with its scores,
and the compute spent (:class:`Compute`: generated tokens, policy and scorer calls, wall time).

Finished vs unfinished. A candidate is *finished* when the policy said so (``Generation.finished``:
a final answer or end of sequence). A candidate that stops because of a budget (``max_steps``,
``max_tokens`` per candidate, ``max_total_tokens`` per problem) or because the policy produced no
new step is *unfinished*; its ``meta["stop_reason"]`` says why. The final choice is made among the
finished candidates only; unfinished ones are chosen **only when no candidate finished**, and then
``SearchResult.meta["chose_unfinished"]`` is True. DVTS never returns unfinished candidates.

Determinism. Every policy call gets a seed derived from ``(config.seed, method, problem id,
depth, phase, ...)`` by :func:`derive_seed`, so a problem's result does not depend on the other
problems in the run (given a policy honouring its per-(seed, problem, prefix, index) contract).

Every loop is bounded by ``max_steps`` (and the method's iteration count), so a policy that never
finishes cannot hang a search.

Example:
    >>> from prmkit.records import Problem
    >>> from prmkit.policies.base import Generation, Policy
    >>> from prmkit.scorers.base import Scorer
    >>> class OneShot(Policy):
    ...     def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
    ...         return [[Generation(["The answer is 4."], True, 5)] * n for _ in problems]
    >>> class Half(Scorer):
    ...     def score_batch(self, problems, steps):
    ...         return [[0.5] * len(s) for s in steps]
    >>> res = search([Problem("p", "2+2?", "4")], OneShot(), Half(), SearchConfig(n=2))
    >>> res[0].chosen.answer, res[0].compute.generated_tokens, res[0].meta["correct"]
    ('4', 10, True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.policies.base import Generation, Policy
from prmkit.records import Problem, Solution
from prmkit.registry import Registry
from prmkit.scorers.base import Scorer

# ---------------------------------------------------------------- configuration


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
    # MCTS (methods.md E4)
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

    def validate(self) -> SearchConfig:
        """Check ranges and names; raises :class:`PrmkitError` naming the field."""
        import prmkit.search  # noqa: F401 - registers the methods
        from prmkit.aggregate import ANSWER_RULES, STEP_AGGREGATIONS

        SEARCHES.get(self.method)
        STEP_AGGREGATIONS.get(self.agg)
        ANSWER_RULES.get(self.answer_rule)
        for name in ("n", "width", "max_steps", "mcts_iterations", "tau", "pats_max_iterations"):
            if int(getattr(self, name)) < 1:
                raise PrmkitError(f"must be >= 1, got {getattr(self, name)}", field=name)
        for name in ("max_tokens", "max_total_tokens"):
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


# ---------------------------------------------------------------- results


@dataclass
class Compute:
    """Compute spent on one problem."""

    generated_tokens: int = 0
    policy_calls: int = 0
    generated_sequences: int = 0
    scorer_calls: int = 0
    scored_sequences: int = 0
    scored_steps: int = 0
    wall_time_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Compute:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class SearchResult:
    """The outcome of a search on one problem."""

    problem_id: str
    method: str
    chosen: Solution | None
    candidates: list[Solution]
    compute: Compute
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def answer(self) -> str | None:
        return None if self.chosen is None else self.chosen.answer

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.problem_id,
            "method": self.method,
            "chosen": None if self.chosen is None else self.chosen.to_dict(),
            "candidates": [c.to_dict() for c in self.candidates],
            "compute": self.compute.to_dict(),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], *, file: str | None = None, line: int | None = None
    ) -> SearchResult:
        """Read a result line written by :meth:`to_dict`."""
        if not isinstance(d, dict):
            raise PrmkitError("expected a JSON object", file=file, line=line)
        for key in ("id", "method", "candidates", "compute"):
            if key not in d:
                raise PrmkitError("missing", file=file, line=line, field=key)
        chosen = d.get("chosen")
        return cls(
            problem_id=str(d["id"]),
            method=str(d["method"]),
            chosen=None if chosen is None else Solution.from_dict(chosen, file=file, line=line),
            candidates=[Solution.from_dict(c, file=file, line=line) for c in d["candidates"]],
            compute=Compute.from_dict(d["compute"]),
            meta=dict(d.get("meta") or {}),
        )


@dataclass
class Candidate:
    """A partial or complete solution inside a search (internal working record)."""

    steps: list[str] = field(default_factory=list)
    finished: bool = False
    num_tokens: int = 0
    step_scores: list[float | None] | None = None
    score: float | None = None
    last_tokens: int = 0
    stop_reason: str = ""
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def extend(self, gen: Generation) -> Candidate:
        """A child: this path plus a generation (its tokens added)."""
        child = Candidate(
            steps=self.steps + [s for s in gen.steps],
            finished=bool(gen.finished),
            num_tokens=self.num_tokens + int(gen.num_tokens),
            last_tokens=int(gen.num_tokens),
            meta={k: v for k, v in self.meta.items() if k in ("subtree",)},
        )
        if gen.meta.get("answer") is not None:
            child.answer = str(gen.meta["answer"])
        if gen.finished:
            child.stop_reason = "finished"
        elif not gen.steps:
            child.stop_reason = "empty_step"
        return child

    @property
    def closed(self) -> bool:
        """True when the candidate will not be extended (finished or stopped by a budget)."""
        return bool(self.stop_reason)


# ---------------------------------------------------------------- helpers


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts (stable across runs and platforms).

    Example:
        >>> derive_seed(0, "p1", 3) == derive_seed(0, "p1", 3) != derive_seed(0, "p1", 4)
        True
    """
    h = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


_ANSWER_RES = (
    re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}"),
    re.compile(r"answer is[:\s]*\$?([^\n$]+?)\$?\s*\.?\s*$", re.IGNORECASE | re.MULTILINE),
    re.compile(r"####\s*(.+?)\s*$", re.MULTILINE),
)


def extract_answer(steps: Sequence[str]) -> str | None:
    """The final answer stated in a solution's steps (``prmkit.grading.extract_answer`` when it is
    available, else the last ``\\boxed{}``, ``answer is X`` or ``#### X``).

    Example:
        >>> extract_answer(["2*3=6", "6+1=7", "The answer is 7."])
        '7'
    """
    text = "\n\n".join(steps)
    try:
        from prmkit.grading import extract_answer as _grading_extract
    except ImportError:
        _grading_extract = None
    if _grading_extract is not None:
        try:
            a = _grading_extract(text)
        except Exception:  # a grading failure must not kill a search
            a = None
        if a is not None and str(a).strip():
            return str(a).strip()
    for rx in _ANSWER_RES:
        found = rx.findall(text)
        if found:
            return found[-1].strip().rstrip(".").strip()
    return None


def answer_key(a: Any) -> Hashable:
    """Grouping key for votes: numbers compared by value (``'18.0'`` and ``'18'`` agree; thousands
    commas dropped), other strings stripped of ``$``, spaces and a trailing period.

    Example:
        >>> answer_key("18.0") == answer_key(" 18 ") == answer_key("$18$")
        True
    """
    if a is None:
        return None
    s = str(a).strip().strip("$").strip().rstrip(".").replace(",", "").replace(" ", "")
    try:
        f = float(s)
    except ValueError:
        return s
    if math.isfinite(f) and f == int(f):
        return str(int(f))
    return repr(f)


def is_correct(answer: str | None, reference: str | None) -> bool | None:
    """Whether ``answer`` matches ``reference`` (``None`` when there is no reference).

    Uses ``prmkit.grading.is_equivalent`` when available, else :func:`answer_key` equality.
    """
    if reference is None:
        return None
    if answer is None:
        return False
    if answer_key(answer) == answer_key(reference):
        return True
    try:
        from prmkit.grading import is_equivalent
    except ImportError:
        return False
    try:
        return bool(is_equivalent(answer, reference))
    except Exception:
        return False


def aggregate_or_none(step_scores: Sequence[float | None] | None, agg: str) -> float | None:
    """``prmkit.aggregate.aggregate_steps`` that returns ``None`` when no step was scored."""
    from prmkit.aggregate import aggregate_steps

    if not step_scores or all(s is None for s in step_scores):
        return None
    return aggregate_steps(step_scores, agg)


def _rank_key(score: float | None) -> float:
    return -math.inf if score is None else score


def argmax_first(scores: Sequence[float | None]) -> int:
    """Index of the highest score; ties -> first; ``None`` ranks lowest.

    Example:
        >>> argmax_first([0.3, 0.8, 0.5, 0.8])
        1
    """
    best = 0
    for i, s in enumerate(scores):
        if _rank_key(s) > _rank_key(scores[best]):
            best = i
    return best


# ---------------------------------------------------------------- the per-problem context


class SearchContext:
    """Policy and scorer access for one problem, with compute accounting and derived seeds.

    Methods call :meth:`generate` and :meth:`score`; never the policy/scorer directly.
    """

    def __init__(self, problem: Problem, policy: Policy, scorer: Scorer, config: SearchConfig) -> None:
        self.problem = problem
        self.policy = policy
        self.scorer = scorer
        self.config = config
        self.compute = Compute()
        self.meta: dict[str, Any] = {}

    # -- budgets
    def budget_left(self) -> bool:
        """False once the per-problem token budget is spent."""
        cap = self.config.max_total_tokens
        return cap is None or self.compute.generated_tokens < cap

    def seed(self, *parts: Any) -> int:
        return derive_seed(self.config.seed, self.config.method, self.problem.id, *parts)

    # -- policy
    def generate(
        self,
        prefixes: Sequence[list[str]],
        n: int,
        *,
        max_steps: int | None = 1,
        seed_parts: tuple[Any, ...] = (),
        count_tokens: bool = True,
    ) -> list[list[Generation]]:
        """``n`` continuations of each prefix, shape-checked and accounted.

        Identical prefixes in one request are merged into one prefix with ``n * k`` samples
        (policies draw from (seed, problem, prefix, sample index), so asking for the same prefix
        twice would return the same samples twice); one policy call per distinct multiplicity.
        """
        if not prefixes or n < 1:
            return [[] for _ in prefixes]
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, p in enumerate(prefixes):
            groups.setdefault(tuple(p), []).append(i)
        by_mult: dict[int, list[tuple[str, ...]]] = {}
        for key, idx in groups.items():
            by_mult.setdefault(len(idx), []).append(key)
        result: list[list[Generation]] = [[] for _ in prefixes]
        for mult in sorted(by_mult):
            keys = by_mult[mult]
            m = n * mult
            parts = seed_parts if mult == 1 else (*seed_parts, "x", mult)
            out = self.policy.continue_from(
                [self.problem] * len(keys),
                [list(k) for k in keys],
                m,
                max_steps=max_steps,
                seed=self.seed(*parts),
            )
            if len(out) != len(keys) or any(len(g) != m for g in out):
                raise PrmkitError(
                    f"policy {type(self.policy).__name__} returned {[len(g) for g in out]} generations "
                    f"for {len(keys)} prefixes x n={m}",
                    field="policy",
                )
            self.compute.policy_calls += 1
            self.compute.generated_sequences += len(keys) * m
            if count_tokens:
                self.compute.generated_tokens += sum(int(g.num_tokens) for gs in out for g in gs)
            for key, gens in zip(keys, out, strict=True):
                for j, i in enumerate(groups[key]):
                    result[i] = list(gens[j * n : (j + 1) * n])
        return result

    # -- scorer
    def score(self, paths: Sequence[list[str]]) -> list[list[float | None]]:
        """Step scores of each path (one scorer call; identical paths scored once)."""
        uniq: dict[tuple[str, ...], int] = {}
        order: list[list[str]] = []
        for p in paths:
            key = tuple(p)
            if key not in uniq and p:
                uniq[key] = len(order)
                order.append(list(p))
        scored: list[list[float | None]] = []
        if order:
            scored = self.scorer.score_batch([self.problem.question] * len(order), order)
            if len(scored) != len(order):
                raise PrmkitError(
                    f"scorer {type(self.scorer).__name__} returned {len(scored)} score lists for {len(order)}",
                    field="scorer",
                )
            for p, s in zip(order, scored, strict=True):
                if len(s) != len(p):
                    raise PrmkitError(
                        f"scorer {type(self.scorer).__name__} returned {len(s)} scores for {len(p)} steps",
                        field="scorer",
                    )
            self.compute.scorer_calls += 1
            self.compute.scored_sequences += len(order)
            self.compute.scored_steps += sum(len(p) for p in order)
        return [list(scored[uniq[tuple(p)]]) if p else [] for p in paths]

    def score_candidates(self, cands: Sequence[Candidate]) -> None:
        """Fill ``step_scores`` and ``score`` (with ``config.agg``) of each candidate in place."""
        todo = [c for c in cands if c.steps]
        for c, s in zip(todo, self.score([c.steps for c in todo]), strict=True):
            c.step_scores = s
            c.score = aggregate_or_none(s, self.config.agg)

    # -- budgets on a new child
    def close_if_over_budget(self, c: Candidate) -> None:
        """Mark an unfinished candidate that reached a per-candidate budget."""
        if c.closed:
            return
        if len(c.steps) >= self.config.max_steps:
            c.stop_reason = "max_steps"
        elif self.config.max_tokens is not None and c.num_tokens >= self.config.max_tokens:
            c.stop_reason = "max_tokens"


# ---------------------------------------------------------------- choice among candidates


def choose_candidate(
    cands: Sequence[Candidate],
    agg: str,
    rule: str,
    params: dict[str, Any] | None = None,
) -> tuple[int | None, bool]:
    """Index of the chosen candidate and whether it is unfinished.

    The rule runs over the finished candidates; over the unfinished ones only when none finished.
    Solution scores are ``agg`` of the step scores (unscored -> 0 weight). When no candidate of
    the pool states an answer, the best-scored one is chosen.

    Example:
        >>> a = Candidate(["x", "The answer is 1"], True, step_scores=[0.9, 0.2])
        >>> b = Candidate(["y"], False, step_scores=[0.99], stop_reason="max_steps")
        >>> choose_candidate([b, a], "min", "best_of_n")
        (1, False)
    """
    from prmkit.aggregate import choose_index

    if not cands:
        return None, False
    finished = [i for i, c in enumerate(cands) if c.finished]
    pool = finished or list(range(len(cands)))
    scores = [aggregate_or_none(cands[i].step_scores, agg) for i in pool]
    answers = [
        cands[i].answer if cands[i].answer is not None else extract_answer(cands[i].steps) for i in pool
    ]
    w = [0.0 if s is None else s for s in scores]
    j = choose_index(answers, w, rule, key=answer_key, **(params or {}))
    if j is None:
        j = argmax_first(scores)
    return pool[j], not finished


# ---------------------------------------------------------------- registry and entry point

#: a method runs on one problem and returns its candidates (scored); extra result meta goes
#: into ``ctx.meta``.
SearchMethod = Callable[[SearchContext], list[Candidate]]

SEARCHES: Registry[SearchMethod] = Registry("search method")


def _to_solution(problem: Problem, c: Candidate, idx: int, method: str, agg: str) -> Solution:
    meta = {
        "problem_id": problem.id,
        "method": method,
        "finished": c.finished,
        "stop_reason": c.stop_reason or ("finished" if c.finished else "unfinished"),
        "num_tokens": c.num_tokens,
        "solution_score": aggregate_or_none(c.step_scores, agg),
        "agg": agg,
    }
    meta.update({k: v for k, v in c.meta.items() if k not in meta})
    return Solution(
        id=f"{problem.id}#{method}-{idx}",
        problem=problem.question,
        steps=list(c.steps),
        answer=c.answer if c.answer is not None else extract_answer(c.steps),
        reference_answer=problem.reference_answer,
        scores=list(c.step_scores) if c.step_scores is not None else None,
        meta=meta,
    )


def search_one(problem: Problem, policy: Policy, scorer: Scorer, config: SearchConfig) -> SearchResult:
    """Run ``config.method`` on one problem."""
    method = SEARCHES.get(config.method)
    ctx = SearchContext(problem, policy, scorer, config)
    t0 = time.perf_counter()
    cands = method(ctx)
    # no empty candidate can be written as a canonical record; count them instead
    empty = sum(1 for c in cands if not c.steps)
    cands = [c for c in cands if c.steps]
    unscored = [c for c in cands if c.step_scores is None]
    if unscored:
        ctx.score_candidates(unscored)
    for c in cands:
        if c.answer is None:
            c.answer = extract_answer(c.steps)
    idx, unfinished = choose_candidate(cands, config.agg, config.answer_rule, config.answer_params)
    ctx.compute.wall_time_s = time.perf_counter() - t0
    sols = [_to_solution(problem, c, i, config.method, config.agg) for i, c in enumerate(cands)]
    chosen = None if idx is None else sols[idx]
    meta = {
        "chosen_index": idx,
        "chose_unfinished": bool(unfinished and idx is not None),
        "n_candidates": len(sols),
        "n_finished": sum(1 for c in cands if c.finished),
        "empty_candidates_dropped": empty,
        "agg": config.agg,
        "answer_rule": config.answer_rule,
        "seed": config.seed,
        "correct": is_correct(None if chosen is None else chosen.answer, problem.reference_answer),
        "reference_answer": problem.reference_answer,
    }
    meta.update(ctx.meta)
    return SearchResult(problem.id, config.method, chosen, sols, ctx.compute, meta)


def search(
    problems: Sequence[Problem],
    policy: Policy,
    scorer: Scorer,
    config: SearchConfig | None = None,
    *,
    quiet: bool | None = None,
) -> list[SearchResult]:
    """Run the search method named by ``config.method`` on every problem (with a progress bar).

    Example (see the module docstring for a runnable one)::

        results = search(problems, load_policy("arith"), load_scorer("arith-oracle"),
                         SearchConfig(method="beam", n=16, width=4))
        accuracy = sum(r.meta["correct"] for r in results) / len(results)
    """
    from prmkit.progress import track

    config = (config or SearchConfig()).validate()
    return [
        search_one(p, policy, scorer, config)
        for p in track(problems, total=len(problems), description=f"search {config.method}", quiet=quiet)
    ]


def rechoose(result: SearchResult, agg: str, rule: str, **params: Any) -> Solution | None:
    """The candidate another aggregation/answer rule would choose from the same candidates
    (finished first), e.g. majority vote vs weighted vote from one best-of-N run.

    Example:
        >>> from prmkit.records import Solution
        >>> s = [Solution(id=f"p#{i}", problem="?", steps=[f"The answer is {a}"], answer=a, scores=[r],
        ...               meta={"finished": True}) for i, (a, r) in enumerate(zip("AAB", [0.2, 0.3, 0.9]))]
        >>> r = SearchResult("p", "best-of-n", s[2], s, Compute())
        >>> rechoose(r, "last", "majority").answer, rechoose(r, "last", "best_of_n").answer
        ('A', 'B')
    """
    cands = [
        Candidate(
            steps=s.steps,
            finished=bool(s.meta.get("finished", True)),
            step_scores=s.scores,
            answer=s.answer,
            stop_reason=str(s.meta.get("stop_reason", "")),
        )
        for s in result.candidates
    ]
    idx, _ = choose_candidate(cands, agg, rule, params)
    return None if idx is None else result.candidates[idx]
