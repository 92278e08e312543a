"""The embedded default PRM: a tiny model trained from scratch on the arithmetic world.

:func:`train_default_prm` generates arithmetic-world problems, samples solutions with the noisy
``ArithPolicy``, labels them (Monte Carlo rollouts with :mod:`prmkit.label`, or the world's exact
checker) and trains a small Qwen2 token classifier with a locally trained tokenizer (digits are
single tokens). Nothing is downloaded. :func:`arithmetic_drills` can add single-step "is this
equation right" records (``drills=N``; off by default, it did not help within the budget).

Status: on the shared, heavily loaded 2-core development machine the ``full`` budget did NOT
reach the F1 >= 80 target (see docs/training.md for the measured curve).

Budgets: ``"full"`` (the quickstart default; about 15 minutes on 2 CPU cores) and ``"tiny"``
(a CI variant, about a minute, which beats chance but is far from the full model).

Example::

    from prmkit.train.default import train_default_prm
    res = train_default_prm("runs/default-prm", budget="tiny")
    res.metrics["eval_pb_f1"]
"""

from __future__ import annotations

import random
import re
import tempfile
from dataclasses import dataclass
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import Solution, labels_from_first_error

_SLIPS = (1, -1, 2, -2, 10, -10, 3, -3, 5, -5, 4, -4, 20, -20, 7, -7)
_RESULT_RE = re.compile(r"= (\d+)")
DRILL_PROMPT = "Check the arithmetic."
#: error rate of the rollout policy used for Monte Carlo labels: low, so that a correct prefix is
#: usually completed correctly and MC values separate correct (>= ~0.7) from wrong (~0) steps
ROLLOUT_ERROR_RATE = 0.05


@dataclass(frozen=True)
class DefaultBudget:
    """Sizes of one default-PRM budget."""

    n_problems: int
    samples_per_problem: int
    drills: int
    time_budget_s: float
    max_steps: int
    hidden: int
    layers: int
    heads: int
    batch_size: int
    lr: float
    n_eval: int
    eval_steps: int
    mc_rollouts: int


BUDGETS = {
    "full": DefaultBudget(
        n_problems=4000, samples_per_problem=2, drills=0, time_budget_s=840, max_steps=2400,
        hidden=128, layers=4, heads=4, batch_size=32, lr=1e-3, n_eval=300, eval_steps=200, mc_rollouts=4,
    ),
    "tiny": DefaultBudget(
        n_problems=300, samples_per_problem=2, drills=0, time_budget_s=75, max_steps=150,
        hidden=64, layers=2, heads=2, batch_size=32, lr=3e-3, n_eval=100, eval_steps=0, mc_rollouts=2,
    ),
}  # fmt: skip


def arithmetic_drills(solutions: list[Solution], n: int, seed: int = 0) -> list[Solution]:
    """Single-step records for arithmetic checking: a true equation taken from a correct step
    (label 1) or the same step with its result slipped by a small amount (label 0), 50/50.

    Example:
        >>> s = Solution(id="p#0", problem="q", steps=["So 3 + 4 = 7 apples.", "The answer is 7."], labels=[1, 1])
        >>> d = arithmetic_drills([s], 4, seed=0)
        >>> len(d), sorted({r.labels[0] for r in d}) <= [0.0, 1.0]
        (4, True)
    """
    rng = random.Random(f"drills:{seed}")
    pool = []
    for s in solutions:
        for i, st in enumerate(s.steps):
            if s.labels and s.labels[i] is not None and s.labels[i] >= 0.5 and _RESULT_RE.search(st):
                pool.append(st)
    if not pool:
        return []
    out = []
    for k in range(n):
        st = rng.choice(pool)
        label = 1.0
        if rng.random() < 0.5:
            m = list(_RESULT_RE.finditer(st))[-1]
            v = int(m.group(1))
            w = v + rng.choice(_SLIPS)
            if w < 0:
                w = v + 1
            st = st[: m.start(1)] + str(w) + st[m.end(1) :]
            label = 0.0
        out.append(Solution(id=f"drill-{seed}-{k}", problem=DRILL_PROMPT, steps=[st], labels=[label]))
    return out


def world_solutions(
    n_problems: int, samples: int, seed: int, labels: str = "mc", rollouts: int = 4
) -> list[Solution]:
    """Sampled arithmetic-world solutions, labelled by Monte Carlo rollouts (``labels="mc"``, soft
    values = success rate of ``rollouts`` continuations) or by the exact checker (``"exact"``)."""
    from prmkit.worlds.arith import check_steps, generate_problems
    from prmkit.worlds.arith_policy import ArithPolicy

    problems = generate_problems(n_problems, seed=10_000 + seed)
    gens = ArithPolicy().sample(problems, samples, seed=seed)
    sols: list[Solution] = []
    for p, row in zip(problems, gens, strict=True):
        for i, g in enumerate(row):
            chk = check_steps(p, g.steps)
            sols.append(
                Solution(
                    id=f"{p.id}#{i}",
                    problem=p.question,
                    steps=list(g.steps),
                    reference_answer=p.reference_answer,
                    labels=labels_from_first_error(chk.first_error, len(g.steps)),
                    meta={"problem_id": p.id, "arith": p.meta["arith"]},
                )
            )
    if labels == "exact":
        return sols
    if labels != "mc":
        raise PrmkitError(f"labels must be 'mc' or 'exact', got {labels!r}", field="labels")
    return _mc_label(sols, rollouts, seed)


def _mc_label(sols: list[Solution], rollouts: int, seed: int) -> list[Solution]:
    from prmkit.label import LabelConfig, read_labelled, run_labelling
    from prmkit.records import write_records

    with tempfile.TemporaryDirectory(prefix="prmkit-default-") as d:
        inp = f"{d}/solutions.jsonl"
        unlabelled = [Solution(id=s.id, problem=s.problem, steps=s.steps, reference_answer=s.reference_answer,
                               meta=s.meta) for s in sols]  # fmt: skip
        write_records(inp, unlabelled)
        cfg = LabelConfig(input=inp, out=f"{d}/label", policy="arith", method="mc", n=rollouts, seed=seed,
                          batch_size=256, label_opts={"label_type": "soft"}, quiet=True,
                          policy_opts={"error_rate": ROLLOUT_ERROR_RATE})  # fmt: skip
        run_labelling(cfg)
        return read_labelled(f"{d}/label")


def train_default_prm(
    out_dir: str,
    budget: str = "full",
    *,
    seed: int = 0,
    labels: str = "mc",
    time_budget_s: float | None = None,
    bench_seed: int = 777,
    threads: int | None = None,
    n_problems: int | None = None,
    drills: int | None = None,
    n_eval: int | None = None,
    **overrides: Any,
) -> Any:
    """Train the embedded default PRM into ``out_dir``; returns a :class:`~prmkit.train.trainer.TrainResult`
    whose ``metrics["eval_pb_f1"]`` is the first-error F1 on ``make_bench(n_eval, bench_seed)``
    and ``history`` the F1-vs-step curve.

    ``overrides`` set any :class:`~prmkit.train.config.TrainConfig` field.

    Example::

        res = train_default_prm("runs/default-prm", budget="tiny")   # ~1 min on 2 cores
        scorer = prmkit.scorers.load_scorer(None, "runs/default-prm")
    """
    from prmkit.train.config import TrainConfig
    from prmkit.train.trainer import train
    from prmkit.worlds.arith import make_bench

    if budget not in BUDGETS:
        raise PrmkitError(f"unknown budget {budget!r}; known: {', '.join(BUDGETS)}", field="budget")
    b = BUDGETS[budget]
    n_problems = n_problems if n_problems is not None else b.n_problems
    sols = world_solutions(n_problems, b.samples_per_problem, seed, labels, b.mc_rollouts)
    train_records = sols + arithmetic_drills(sols, drills if drills is not None else b.drills, seed)
    bench = make_bench(n_eval if n_eval is not None else b.n_eval, seed=bench_seed)
    kw: dict[str, Any] = dict(
        out=out_dir, init="tiny", format="token-classification", loss="bce", after_error="drop",
        max_steps=b.max_steps, time_budget_s=time_budget_s if time_budget_s is not None else b.time_budget_s,
        batch_size=b.batch_size, lr=b.lr, warmup_ratio=0.03, tiny_hidden=b.hidden, tiny_layers=b.layers,
        tiny_heads=b.heads, tiny_vocab=600, eval_steps=b.eval_steps, logging_steps=50, seed=seed,
        max_length=512, weight_decay=0.01, threads=threads,
    )  # fmt: skip
    kw.update(overrides)
    cfg = TrainConfig(**kw)
    cfg.data = (
        f"arith-world(n_problems={n_problems}, samples={b.samples_per_problem}, labels={labels}, seed={seed})"
    )
    return train(cfg, train_records=train_records, eval_records=bench)
