"""``prmkit label --select uncertain``: label only the pool solutions a PRM is unsure about
(ActPRM, docs/methods.md#c6-actprm-uncertainty-selection).

The selecting PRM(s) (``--select-model``, several = an ensemble; ``--select-scorer`` names the
family, else each checkpoint's ``prmkit.json`` does) score every step of every input solution;
:func:`prmkit.label.select.solution_uncertainty` marks the uncertain ones (a step is sure when the
members' mean score is at least ``select_pred_threshold`` or at most ``1 -
select_pred_threshold`` and their standard deviation at most ``select_std_threshold``; with one
member only the margin counts), :func:`prmkit.label.select.select_uncertain` keeps the most
uncertain ones within ``select_budget`` (a count above 1, a fraction of the pool up to 1), and
only those go through the ordinary labelling run (:func:`prmkit.label.runner.run_labelling`):

    OUT/selection.json     pool size, selected ids (input order), each solution's uncertainty
    OUT/selected.jsonl     the selected solutions: the input of the labelling run
    OUT/shards/, manifest.json, summary.json   as any labelling run (labels spent: solutions,
                                               rollouts, rollout tokens), plus pool/selected counts

``--resume`` reuses the selection when the input and the selection options are unchanged.

Example:
    cfg = LabelConfig(input="pool.jsonl", out="runs/act", method="binary", n=4,
                      select="uncertain", select_model=["runs/prm"], select_budget=0.3)
    summary = run_uncertain_labelling(cfg)
    summary["pool"], summary["selected"], summary["rollouts"]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.label.base import Labeller
from prmkit.label.runner import SUMMARY, LabelConfig, run_labelling
from prmkit.label.select import select_uncertain, solution_uncertainty
from prmkit.records import Solution, check_input_file, read_records, write_records, write_text_atomic
from prmkit.runs import sha256_file
from prmkit.scorers.base import Scorer, load_scorer

__all__ = ["SELECTED", "SELECTION", "budget_count", "run_uncertain_labelling", "select_pool"]

SELECTION = "selection.json"
SELECTED = "selected.jsonl"
#: the options that decide the selection (a resumed run must use the same)
SELECT_FIELDS = (
    "select_scorer",
    "select_model",
    "select_budget",
    "select_pred_threshold",
    "select_std_threshold",
)


def budget_count(budget: float | None, pool: int) -> int | None:
    """Solutions a budget allows: ``None`` (no limit), a count above 1, a fraction of the pool up to 1.

    Example:
        >>> budget_count(None, 40), budget_count(0.25, 40), budget_count(7, 40), budget_count(1.0, 40)
        (None, 10, 7, 40)
    """
    if budget is None:
        return None
    return int(round(budget * pool)) if budget <= 1 else int(budget)


def select_pool(
    pool: Sequence[Solution],
    scorers: Sequence[Scorer],
    budget: float | None = None,
    pred_threshold: float = 0.9,
    std_threshold: float = 0.01,
    batch_size: int = 64,
) -> tuple[list[int], list[dict[str, Any]]]:
    """Indices (input order) of the solutions to label, and per solution its uncertainty
    ``{"id", "confident", "uncertainty"}``."""
    member_scores: list[list[list[float | None]]] = [[] for _ in pool]
    for sc in scorers:
        for i, r in enumerate(sc.score_records(
            [Solution(id=r.id, problem=r.problem, steps=list(r.steps)) for r in pool], batch_size=batch_size
        )):  # fmt: skip
            member_scores[i].append(list(r.scores or []))
    unc = solution_uncertainty(member_scores, pred_threshold, std_threshold)
    chosen = sorted(select_uncertain(unc, budget_count(budget, len(pool))))
    info = [
        {"id": r.id, "confident": u.confident, "uncertainty": round(u.score, 6)}
        for r, u in zip(pool, unc, strict=True)
    ]
    return chosen, info


def _scorers(cfg: LabelConfig) -> list[Scorer]:
    if not cfg.select_model:
        if not cfg.select_scorer:
            raise PrmkitError("select=uncertain needs --select-model PATH (or a --select-scorer that needs none)",
                              field="select_model")  # fmt: skip
        return [load_scorer(cfg.select_scorer)]
    return [load_scorer(cfg.select_scorer, m) for m in cfg.select_model]


def run_uncertain_labelling(
    cfg: LabelConfig,
    *,
    policy: Any = None,
    labeller: Labeller | None = None,
    scorers: Sequence[Scorer] | None = None,
) -> dict[str, Any]:
    """Select the uncertain solutions of ``cfg.input`` and label only those (see the module docs).
    ``scorers`` may be passed as objects instead of ``select_model``. Returns the labelling
    summary with ``pool``, ``selected``, ``confident`` and ``label_fraction`` added."""
    if cfg.select != "uncertain":
        raise PrmkitError("run_uncertain_labelling needs select=uncertain", field="select")
    if not cfg.input or not cfg.out:
        raise PrmkitError("give --in and --out", field="input" if not cfg.input else "out")
    check_input_file(cfg.input)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ident = {"input_sha256": sha256_file(cfg.input), **{k: getattr(cfg, k) for k in SELECT_FIELDS}}
    sel_path, info_path = out / SELECTED, out / SELECTION
    if info_path.exists():
        if not cfg.resume:
            raise PrmkitError("output directory already holds a selection; pass --resume or use a new --out",
                              file=str(out))  # fmt: skip
        old = json.loads(info_path.read_text(encoding="utf-8"))
        for k, v in ident.items():
            if old["config"].get(k) != v:
                raise PrmkitError(f"differs from the run being resumed ({old['config'].get(k)!r} there, {v!r} here)",
                                  file=str(info_path), field=k)  # fmt: skip
        selection = old
    else:
        pool = list(read_records(cfg.input))
        if not pool:
            raise PrmkitError("no records", file=cfg.input)
        members = list(scorers) if scorers is not None else _scorers(cfg)
        chosen, info = select_pool(pool, members, cfg.select_budget, cfg.select_pred_threshold,
                                   cfg.select_std_threshold)  # fmt: skip
        if not chosen:
            raise PrmkitError("the selecting PRM is sure of every solution: nothing to label", field="select")
        write_records(sel_path, [pool[i] for i in chosen])
        selection = {"config": ident, "pool": len(pool), "selected": len(chosen),
                     "confident": sum(x["confident"] for x in info), "budget": budget_count(cfg.select_budget, len(pool)),
                     "selected_ids": [pool[i].id for i in chosen], "solutions": info}  # fmt: skip
        write_text_atomic(info_path, json.dumps(selection, indent=1, ensure_ascii=False))
    run_cfg = replace(
        cfg, input=str(sel_path), select="all", select_scorer=None, select_model=[], select_budget=None
    )
    summary = run_labelling(run_cfg, policy=policy, labeller=labeller)
    summary |= {"pool": selection["pool"], "selected": selection["selected"], "confident": selection["confident"],
                "label_fraction": round(selection["selected"] / selection["pool"], 4)}  # fmt: skip
    write_text_atomic(out / SUMMARY, json.dumps(summary, indent=1, ensure_ascii=False))
    return summary
