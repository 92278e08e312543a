"""PRMBench (Song et al., arXiv 2501.03124): step-level error detection in 9 categories.

Protocol (docs/methods.md#a2-prmbench), as the official code computes it (ssmisya/PRMBench:
``mr_eval/tasks/prmtest_classified/task.py`` for the counts, and the results-table function
``get_prmscore_from_current_res_dict`` for PRMScore):

- Each instance is a *modified* solution; ``error_steps`` are **1-based**. A step is predicted
  valid when ``score > threshold`` (default 0.5; note ``>``, as in the official code).
- Confusion counts over all steps of all instances, positive class = "step is correct":
  ``F1`` on the positive class, ``negative_f1`` on the error class, and
  ``PRMScore = 0.5 * negative_f1 + 0.5 * F1`` (overall and per class).
- Per category (``classification``) the same from that category's counts, except
  ``multi_solutions`` (no error steps): its PRMScore is ``F1`` alone.
- ``redundency`` and ``circular`` instances read the model's separate redundancy labels when it
  gives them (``meta["redundancy_labels"]``, one bool per step, True = redundant; a step is then
  valid iff not redundant), else the step scores, as the official evaluator does.
- Steps whose score is ``None`` are not counted (reported as ``n_unscored_steps``). The
  unmodified originals are not evaluated (the official code counts them only in a separate
  ``correct`` class that enters neither the totals nor PRMScore).

Example (docs/methods.md#a2-prmbench):
    >>> c = confusion([0.9, 0.7, 0.3, 0.6, 0.2], labels_from_error_steps(5, [3, 4]))
    >>> c
    {'tp': 2, 'fn': 1, 'tn': 1, 'fp': 1}
    >>> m = prm_scores(c)
    >>> round(m["f1"], 3), round(m["negative_f1"], 3), round(m["prmscore"], 3)
    (0.667, 0.5, 0.583)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.evaluate.common import default_data_root, fmt
from prmkit.records import Solution, iter_json_lines, read_records

#: official data key -> (dimension, abbreviation, name)
CATEGORIES = {
    "redundency": ("Simplicity", "NR", "Non-Redundancy"),
    "circular": ("Simplicity", "NCL", "Non-Circular Logic"),
    "counterfactual": ("Soundness", "ES", "Empirical Soundness"),
    "step_contradiction": ("Soundness", "SC", "Step Consistency"),
    "domain_inconsistency": ("Soundness", "DC", "Domain Consistency"),
    "confidence": ("Soundness", "CI", "Confidence Invariance"),
    "missing_condition": ("Sensitivity", "PS", "Prerequisite Sensitivity"),
    "deception": ("Sensitivity", "DR", "Deception Resistance"),
    "multi_solutions": ("Sensitivity", "MS", "Multi-Solution Consistency"),
}

#: PRMScore weights (negative F1, F1), from the official code (see module docstring)
DEFAULT_WEIGHTS = (0.5, 0.5)
#: classes whose PRMScore is F1 alone (they have no error steps)
F1_ONLY = frozenset({"multi_solutions"})
#: classes that read the model's redundancy labels when it gives them
REDUNDANCY_CLASSES = frozenset({"redundency", "circular"})


def labels_from_error_steps(n_steps: int, error_steps: Sequence[int], strict: bool = True) -> list[float]:
    """Step labels (1 = correct) from PRMBench's **1-based** ``error_steps``.

    With ``strict=False`` indices beyond the process are ignored (the released data has 100 such
    instances out of 6216; :func:`prmbench_to_solution` records them in
    ``meta.error_steps_out_of_range`` and the results count them).

    Example:
        >>> labels_from_error_steps(5, [3, 4])
        [1.0, 1.0, 0.0, 0.0, 1.0]
        >>> labels_from_error_steps(2, [2, 3], strict=False)
        [1.0, 0.0]
    """
    labels = [1.0] * n_steps
    for e in error_steps:
        if not isinstance(e, int) or isinstance(e, bool) or e < 1:
            raise PrmkitError(f"error step {e!r} is not a 1-based index", field="error_steps")
        if e > n_steps:
            if strict:
                raise PrmkitError(f"error step {e!r} out of range 1..{n_steps}", field="error_steps")
            continue
        labels[e - 1] = 0.0
    return labels


def prmbench_to_solution(d: Any, *, file: str | None = None, line: int | None = None) -> Solution:
    """A PRMBench instance as a canonical record (the modified question and process)."""
    if not isinstance(d, dict):
        raise PrmkitError("expected a JSON object", file=file, line=line)
    for key in ("modified_process", "error_steps", "classification"):
        if key not in d:
            raise PrmkitError("missing", file=file, line=line, field=key)
    steps = d["modified_process"]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
        raise PrmkitError(
            "must be a non-empty list of strings", file=file, line=line, field="modified_process"
        )
    try:
        if not isinstance(d["error_steps"], list):
            raise PrmkitError("must be a list of 1-based step indices", field="error_steps")
        labels = labels_from_error_steps(len(steps), d["error_steps"], strict=False)
    except PrmkitError as e:
        raise e.located(file=file, line=line) from None
    out_of_range = [e for e in d["error_steps"] if e > len(steps)]
    question = d.get("modified_question") or d.get("question")
    if not isinstance(question, str):
        raise PrmkitError("missing", file=file, line=line, field="modified_question")
    return Solution(
        id=str(d.get("idx", f"{Path(file or 'prmbench').stem}:{line}")),
        problem=question,
        steps=list(steps),
        labels=labels,
        meta={
            "classification": d["classification"],
            "error_steps": list(d["error_steps"]),
            **({"error_steps_out_of_range": out_of_range} if out_of_range else {}),
        },
    )


def load_prmbench(data: str | os.PathLike | None = None, pattern: str = "*.jsonl") -> list[Solution]:
    """All instances of the PRMBench JSONL files in ``data`` (default ``$PRMKIT_DATA/prmbench``)
    matching ``pattern`` (e.g. ``"*test*.jsonl"``), in file-name order."""
    root = Path(data) if data is not None else default_data_root() / "prmbench"
    if not root.is_dir():
        raise PrmkitError(
            "PRMBench data directory not found; pass --data DIR or set PRMKIT_DATA", file=str(root)
        )
    files = sorted(root.glob(pattern))
    if not files:
        raise PrmkitError(f"no files match {pattern!r}", file=str(root))
    out = []
    for f in files:
        out += [prmbench_to_solution(obj, file=str(f), line=n) for n, obj, _ in iter_json_lines(f)]
    return out


def read_scored(path: str | os.PathLike) -> list[Solution]:
    """Canonical records with ``scores``, ``labels`` and ``meta.classification``."""
    recs = list(read_records(path))
    for i, r in enumerate(recs, start=1):
        if r.scores is None or r.labels is None:
            raise PrmkitError("needs both scores and labels", file=str(path), line=i, field="scores")
        if "classification" not in r.meta:
            raise PrmkitError("missing", file=str(path), line=i, field="meta.classification")
    return recs


def confusion(
    scores: Sequence[float | None], labels: Sequence[float | None], threshold: float = 0.5
) -> dict[str, int]:
    """Confusion counts of one solution (positive = correct step; valid iff ``score > threshold``);
    steps with a ``None`` score or label are not counted.

    Example:
        >>> confusion([0.9, None, 0.5], [1, 1, 1])
        {'tp': 1, 'fn': 1, 'tn': 0, 'fp': 0}
    """
    c = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    for s, y in zip(scores, labels, strict=True):
        if s is None or y is None:
            continue
        valid = s > threshold
        if y >= 0.5:
            c["tp" if valid else "fn"] += 1
        else:
            c["fp" if valid else "tn"] += 1
    return c


def _f1(p_num: int, p_den: int, r_den: int) -> float | None:
    if p_den == 0 or r_den == 0:
        return None
    p, r = p_num / p_den, p_num / r_den
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def prm_scores(
    c: dict[str, int], weights: tuple[float, float] = DEFAULT_WEIGHTS, f1_only: bool = False
) -> dict[str, Any]:
    """``f1``, ``negative_f1`` and ``prmscore`` (fractions in [0, 1]) from confusion counts;
    ``f1_only``: PRMScore is F1 alone (the official rule for ``multi_solutions``).

    Example:
        >>> prm_scores({"tp": 3, "fn": 0, "tn": 0, "fp": 0})["negative_f1"] is None
        True
        >>> prm_scores({"tp": 2, "fn": 1, "tn": 0, "fp": 0}, f1_only=True)["prmscore"]
        0.8
    """
    f1 = _f1(c["tp"], c["tp"] + c["fp"], c["tp"] + c["fn"])
    if c["tp"] + c["fn"] > 0 and c["tp"] + c["fp"] == 0:
        f1 = 0.0  # correct steps exist but none predicted valid
    nf1 = _f1(c["tn"], c["tn"] + c["fn"], c["tn"] + c["fp"])
    if c["tn"] + c["fp"] > 0 and c["tn"] + c["fn"] == 0:
        nf1 = 0.0  # error steps exist but none predicted invalid
    if f1_only:
        score = f1
    else:
        score = None if f1 is None or nf1 is None else weights[0] * nf1 + weights[1] * f1
    return {"f1": f1, "negative_f1": nf1, "prmscore": score, **c}


def _validity_scores(r: Solution, cat: str) -> list[float | None]:
    """Step scores, or for the redundancy classes 1/0 from the model's redundancy labels."""
    red = r.meta.get("redundancy_labels")
    if cat not in REDUNDANCY_CLASSES or red is None:
        return list(r.scores or [])
    if not isinstance(red, list) or len(red) != len(r.steps):
        raise PrmkitError(
            f"record '{r.id}': redundancy_labels must be one bool per step ({len(r.steps)})",
            field="meta.redundancy_labels",
        )
    return [None if x is None else (0.0 if x else 1.0) for x in red]


def evaluate_prmbench(
    records: Sequence[Solution], threshold: float = 0.5, weights: tuple[float, float] = DEFAULT_WEIGHTS
) -> dict[str, Any]:
    """Overall and per-category F1 / negative F1 / PRMScore of scored PRMBench records.

    Example:
        >>> r = Solution(id="x", problem="q", steps=list("abcde"), scores=[0.9, 0.7, 0.3, 0.6, 0.2],
        ...              labels=[1, 1, 0, 0, 1], meta={"classification": "circular"})
        >>> res = evaluate_prmbench([r])
        >>> round(res["overall"]["prmscore"], 3), list(res["categories"])
        (0.583, ['circular'])
    """
    total = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    per_cat: dict[str, dict[str, int]] = {}
    n_cat: dict[str, int] = {}
    unscored = 0
    n_oor = 0
    correct_scores: list[float] = []
    wrong_scores: list[float] = []
    for r in records:
        if r.scores is None or r.labels is None:
            raise PrmkitError(f"record '{r.id}' needs scores and labels", field="scores")
        cat = str(r.meta.get("classification", "unknown"))
        c = confusion(_validity_scores(r, cat), r.labels, threshold)
        unscored += sum(1 for s in r.scores if s is None)
        for s, y in zip(r.scores, r.labels, strict=True):
            if s is not None and y is not None:
                (correct_scores if y >= 0.5 else wrong_scores).append(float(s))
        pc = per_cat.setdefault(cat, {"tp": 0, "fn": 0, "tn": 0, "fp": 0})
        for k, v in c.items():
            total[k] += v
            pc[k] += v
        n_cat[cat] = n_cat.get(cat, 0) + 1
        n_oor += bool(r.meta.get("error_steps_out_of_range"))
    from prmkit.evaluate.processbench import _hist

    cats = {}
    for cat in sorted(per_cat, key=lambda k: list(CATEGORIES).index(k) if k in CATEGORIES else 99):
        info = CATEGORIES.get(cat, ("?", cat, cat))
        cats[cat] = {
            "dimension": info[0],
            "abbr": info[1],
            "n_instances": n_cat[cat],
            **prm_scores(per_cat[cat], weights, f1_only=cat in F1_ONLY),
        }
    return {
        "benchmark": "prmbench",
        "threshold": threshold,
        "weights": {"negative_f1": weights[0], "f1": weights[1], "verified": weights == DEFAULT_WEIGHTS},
        "f1_only_classes": sorted(F1_ONLY),
        "overall": {"n_instances": len(records), **prm_scores(total, weights)},
        "categories": cats,
        "n_unscored_steps": unscored,
        "n_error_steps_out_of_range": n_oor,
        "score_hist": {
            "bins": 20,
            "correct_steps": _hist(correct_scores),
            "wrong_steps": _hist(wrong_scores),
        },
    }


def prmbench_markdown(result: dict[str, Any]) -> str:
    """Markdown table of the overall and per-category results (percent)."""

    def pct(x: float | None) -> str:
        return fmt(None if x is None else 100 * x)

    lines = [
        "## PRMBench",
        "",
        f"threshold: valid iff score > {result['threshold']}; PRMScore = "
        f"{result['weights']['negative_f1']} * negative F1 + {result['weights']['f1']} * F1 "
        "(multi_solutions: F1 alone), as the official PRMBench code",
        "",
        "| category | n | F1 | negative F1 | PRMScore |",
        "|---|---|---|---|---|",
    ]
    o = result["overall"]
    lines.append(
        f"| **overall** | {o['n_instances']} | {pct(o['f1'])} | {pct(o['negative_f1'])} | **{pct(o['prmscore'])}** |"
    )
    for cat, m in result["categories"].items():
        lines.append(
            f"| {m['abbr']} ({cat}) | {m['n_instances']} | {pct(m['f1'])} | {pct(m['negative_f1'])} | {pct(m['prmscore'])} |"
        )
    notes = []
    if result.get("n_unscored_steps"):
        notes.append(f"- {result['n_unscored_steps']} steps had no score and were not counted")
    if result.get("n_error_steps_out_of_range"):
        notes.append(
            f"- {result['n_error_steps_out_of_range']} instances list error steps beyond their last step "
            "(ignored; their in-range error steps are used)"
        )
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"
