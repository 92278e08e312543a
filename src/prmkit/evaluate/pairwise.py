"""Pairwise accuracy on tool-call cases (ToolPRMBench-style, :mod:`prmkit.formats.tool_pairs`).

A case holds a history, a correct next action and an incorrect one. The PRM scores both
continuations (:func:`~prmkit.formats.tool_pairs.pair_solutions`); it is right on the case when
the score of the **final step** (the candidate action) of the correct continuation is higher
than the incorrect one's. Ties count half; a case whose final step has no score (beyond the
window) counts as a tie and is counted in ``unscored``. Accuracy comes with a percentile bootstrap
interval over cases (:func:`prmkit.evaluate.stats.paired_bootstrap` of the per-case outcomes
against 0), overall and per error kind.

Example:
    >>> r = pairwise_accuracy([0.9, 0.6, 0.5], [0.1, 0.7, 0.5], n_boot=200)
    >>> r["accuracy"], r["wins"], r["ties"], r["n"]
    (0.5, 1, 1, 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.evaluate.stats import paired_bootstrap
from prmkit.formats.tool_pairs import ToolPair, pair_solutions
from prmkit.records import Solution

__all__ = ["evaluate_pairs", "pairwise_accuracy", "pairwise_markdown", "score_pairs"]


def _outcome(c: float | None, i: float | None) -> float:
    if c is None or i is None or c == i:
        return 0.5
    return 1.0 if c > i else 0.0


def pairwise_accuracy(
    correct: Sequence[float | None],
    incorrect: Sequence[float | None],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy of ``correct[i] > incorrect[i]`` (ties and missing scores count half) with a
    bootstrap interval: ``{n, accuracy, ci: [lo, hi], wins, ties, losses, unscored}``."""
    if len(correct) != len(incorrect):
        raise PrmkitError(f"{len(correct)} correct scores but {len(incorrect)} incorrect ones")
    if not correct:
        raise PrmkitError("no pairs to evaluate")
    outs = [_outcome(c, i) for c, i in zip(correct, incorrect, strict=True)]
    lo, hi = paired_bootstrap(outs, [0.0] * len(outs), n_boot=n_boot, confidence=confidence, seed=seed)
    return {
        "n": len(outs),
        "accuracy": sum(outs) / len(outs),
        "ci": [lo, hi],
        "confidence": confidence,
        "wins": outs.count(1.0),
        "ties": outs.count(0.5),
        "losses": outs.count(0.0),
        "unscored": sum(1 for c, i in zip(correct, incorrect, strict=True) if c is None or i is None),
    }


def _final(rec: Solution) -> float | None:
    if rec.scores is None:
        raise PrmkitError(f"record '{rec.id}' has no scores", field="scores")
    return rec.scores[-1]


def evaluate_pairs(
    records: Iterable[Solution], *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Pairwise accuracy of scored records made by
    :func:`~prmkit.formats.tool_pairs.pair_solutions` (both sides of each case, matched by
    ``meta["pair"]``), overall and per ``meta["error"]`` kind.

    Example:
        >>> from prmkit.formats.tool_pairs import read_pair
        >>> case = {"id": "c", "task": "t", "correct": {"action": "a"}, "incorrect": {"action": "b"}, "error": "e"}
        >>> good, bad = pair_solutions(read_pair(case))
        >>> good.scores, bad.scores = [0.8], [0.3]
        >>> evaluate_pairs([good, bad], n_boot=50)["by_error"]["e"]["accuracy"]
        1.0
    """
    sides: dict[str, dict[str, Solution]] = {}
    for rec in records:
        pid, side = rec.meta.get("pair"), rec.meta.get("side")
        if not isinstance(pid, str) or side not in ("correct", "incorrect"):
            raise PrmkitError(
                f"record '{rec.id}' is not one side of a pairwise case (meta.pair, meta.side)", field="meta"
            )
        if side in sides.setdefault(pid, {}):
            raise PrmkitError(f"case {pid!r} has two '{side}' records", field="meta")
        sides[pid][side] = rec
    incomplete = [p for p, s in sides.items() if len(s) != 2]
    if incomplete:
        raise PrmkitError(f"{len(incomplete)} case(s) lack one side, e.g. {incomplete[0]!r}", field="meta")
    kw = {"n_boot": n_boot, "confidence": confidence, "seed": seed}
    pids = list(sides)
    c = [_final(sides[p]["correct"]) for p in pids]
    i = [_final(sides[p]["incorrect"]) for p in pids]
    result: dict[str, Any] = {"benchmark": "pairwise", **pairwise_accuracy(c, i, **kw)}
    kinds: dict[str, list[int]] = {}
    for k, p in enumerate(pids):
        kinds.setdefault(str(sides[p]["correct"].meta.get("error") or "unspecified"), []).append(k)
    result["by_error"] = {
        kind: pairwise_accuracy([c[k] for k in ks], [i[k] for k in ks], **kw)
        for kind, ks in sorted(kinds.items())
    }
    return result


def score_pairs(scorer: Any, pairs: Sequence[ToolPair], batch_size: int = 16) -> list[Solution]:
    """Both continuations of every case, scored by ``scorer`` (a :class:`prmkit.scorers.Scorer`)."""
    recs = [s for p in pairs for s in pair_solutions(p)]
    return list(scorer.score_records(iter(recs), batch_size))


def pairwise_markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table (overall, then per error kind), accuracy in %."""
    pct = int(round(100 * result["confidence"]))
    lines = [
        f"| cases | accuracy (%) | {pct}% CI | wins | ties | losses |",
        "|---|---|---|---|---|---|",
    ]

    def row(name: str, r: dict[str, Any]) -> str:
        lo, hi = r["ci"]
        return (
            f"| {name} ({r['n']}) | {100 * r['accuracy']:.1f} | [{100 * lo:.1f}, {100 * hi:.1f}] "
            f"| {r['wins']} | {r['ties']} | {r['losses']} |"
        )

    lines.append(row("all", result))
    for kind, r in result.get("by_error", {}).items():
        lines.append(row(kind, r))
    if result.get("unscored"):
        lines.append(f"\n{result['unscored']} case(s) had an unscored final step (counted as ties).")
    return "\n".join(lines) + "\n"
