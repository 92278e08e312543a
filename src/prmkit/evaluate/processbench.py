"""ProcessBench (Zheng et al., arXiv 2412.06559): find the first wrong step, or say there is none.

Protocol (docs/methods.md#a1-processbench):

- A PRM scores every step; the predicted index is the first step whose score is **below** the
  threshold ``tau`` (``p_t < tau``), ``-1`` when none is. ``None`` scores never count as errors.
- Per subset: ``acc_err`` (exact match on erroneous samples), ``acc_corr`` (predicting -1 on
  correct samples), ``F1`` = their harmonic mean (percent); ``average_f1`` = mean of the subset F1s.
- Two threshold policies, both reported: ``fixed`` (default 0.5 = argmax of a 2-class head) and
  ``tuned``: a grid of thresholds in [0, 1] (default 10,001 points), the best F1 on one subset
  (default ``gsm8k``, as the ProcessBench maintainers did), then applied unchanged to all subsets.
  Note the tuned policy's F1 on its own tuning subset is optimistic.

Scores covering only the steps up to the labelled first error (some published score files) give
*exactly* the same metrics: a prediction at or before the labelled error is decided by those
steps, and any later prediction (or none) is a miss either way. Missing trailing scores are read
as ``None`` and counted in ``n_partial``.

Example:
    >>> preds = [predict_first_error(s, 0.5) for s in
    ...          ([0.9, 0.8, 0.3, 0.2], [0.4, 0.9], [0.9, 0.9, 0.7, 0.6], [0.8, 0.7, 0.9], [0.9, 0.45, 0.8])]
    >>> preds
    [2, 0, -1, -1, 1]
    >>> m = processbench_metrics(preds, [2, 0, 3, -1, -1])
    >>> round(m["acc_err"], 1), round(m["acc_corr"], 1), round(m["f1"], 1)
    (66.7, 50.0, 57.1)
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.evaluate.common import default_data_root, fmt
from prmkit.formats.processbench import processbench_to_solution as read_processbench_record
from prmkit.records import (
    META_SUBSET,
    Solution,
    check_step_values,
    first_error_of,
    iter_json_lines,
    labels_from_first_error,
)

SUBSETS = ("gsm8k", "math", "olympiadbench", "omnimath")
HUB_ID = "Qwen/ProcessBench"


# ---------------------------------------------------------------- data


def processbench_to_solution(
    d: Any, subset: str, *, file: str | None = None, line: int | None = None
) -> Solution:
    """A ProcessBench record ``{id, generator, problem, steps, final_answer_correct, label}`` as a
    canonical record (read by the ``processbench`` format): labels 1 before the first error, 0 at
    it, ``None`` after (unknown), so ``first_error`` is ``label``. ``meta["subset"]`` names the
    subset; an optional ``scores`` list may stop before the last step (padded with ``None``).

    Example:
        >>> s = processbench_to_solution({"id": "gsm8k-0", "problem": "p", "steps": ["a", "b", "c"],
        ...                               "label": 1}, "gsm8k")
        >>> s.labels, s.first_error, s.meta["subset"]
        ([1.0, 0.0, None], 1, 'gsm8k')
    """
    if not isinstance(d, dict):
        raise PrmkitError("expected a JSON object", file=file, line=line)
    sol = read_processbench_record({k: v for k, v in d.items() if k != "scores"}, file, line)
    sol.meta[META_SUBSET] = subset
    if d.get("scores") is not None:
        sol.scores = _partial_scores(d["scores"], len(sol.steps), file, line)
    return sol


def load_processbench(
    data: str | os.PathLike | None = None, subsets: Sequence[str] | None = None
) -> dict[str, list[Solution]]:
    """Load ProcessBench subsets: from a directory holding ``<subset>.json`` files, or from the
    Hugging Face Hub id ``Qwen/ProcessBench`` (needs the ``datasets`` extra and a connection).

    ``data=None``: ``$PRMKIT_DATA/processbench`` (or ``../shared/data/processbench``) when it
    exists, else the Hub.

    Example (needs the reference data, so not run as a doctest):
        data = load_processbench("../shared/data/processbench", subsets=["gsm8k"])
        len(data["gsm8k"])  # 400
    """
    subsets = list(subsets or SUBSETS)
    if data is None:
        local = default_data_root() / "processbench"
        data = local if local.is_dir() else HUB_ID
    p = Path(data)
    if p.is_dir():
        return {s: _load_local(p, s) for s in subsets}
    if str(data) == HUB_ID or (str(data).count("/") == 1 and not p.exists()):
        return {s: _load_hub(str(data), s) for s in subsets}
    raise PrmkitError("ProcessBench data not found: pass a directory with <subset>.json files", file=str(p))


def _load_local(root: Path, subset: str) -> list[Solution]:
    for name in (f"{subset}.json", f"{subset}.jsonl"):
        f = root / name
        if f.is_file():
            return [
                processbench_to_solution(obj, subset, file=str(f), line=n) for n, obj, _ in iter_json_lines(f)
            ]
    raise PrmkitError(f"subset '{subset}' not found (expected {subset}.json)", file=str(root))


def _load_hub(hub_id: str, subset: str) -> list[Solution]:
    try:
        import datasets
    except ImportError:
        raise PrmkitError(
            f"loading {hub_id} from the Hub needs the 'datasets' package (pip install prmkit[datasets]); "
            "or pass --data DIR with the four JSON files"
        ) from None
    try:
        ds = datasets.load_dataset(hub_id, split=subset)
    except Exception as e:  # noqa: BLE001 - offline / missing split / network errors all end here
        raise PrmkitError(
            f"could not load {hub_id} split '{subset}' from the Hugging Face Hub ({type(e).__name__}: {e}); "
            "offline? pass --data DIR with the four ProcessBench JSON files"
        ) from None
    return [
        processbench_to_solution(dict(row), subset, file=hub_id, line=i) for i, row in enumerate(ds, start=1)
    ]


def _partial_scores(values: Any, n_steps: int, file: str | None, line: int | None) -> list[float | None]:
    """Scores that may stop before the last step: padded with ``None``; more than steps is an error."""
    if not isinstance(values, list):
        raise PrmkitError("must be a list", file=file, line=line, field="scores")
    if len(values) > n_steps:
        raise PrmkitError(
            f"has {len(values)} values for {n_steps} steps", file=file, line=line, field="scores"
        )
    padded = list(values) + [None] * (n_steps - len(values))
    return check_step_values(padded, n_steps, name="scores", file=file, line=line)


def read_scored(path: str | os.PathLike, subsets: Sequence[str] | None = None) -> dict[str, list[Solution]]:
    """Read precomputed scores: canonical records (``scores`` plus ``labels`` or ``meta.label``)
    or ProcessBench records with a ``scores`` list. The subset is ``meta.subset`` or the id's
    prefix before ``-`` (``gsm8k-17``). ``scores`` may be shorter than ``steps`` (see module doc).

    Records without scores are an error naming the line.
    """
    p = Path(path)
    out: dict[str, list[Solution]] = {}
    for n, obj, _ in iter_json_lines(p):
        if not isinstance(obj, dict):
            raise PrmkitError("expected a JSON object", file=str(p), line=n)
        if obj.get("scores") is None:
            raise PrmkitError(
                "missing (a precomputed-score file needs scores)", file=str(p), line=n, field="scores"
            )
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
        subset = meta.get(META_SUBSET) or str(obj.get("id", "")).split("-", 1)[0]
        if not subset:
            raise PrmkitError(
                "cannot tell the subset (no meta.subset, no '<subset>-N' id)", file=str(p), line=n
            )
        if "label" in obj and "labels" not in obj:
            sol = processbench_to_solution(obj, subset, file=str(p), line=n)
        else:
            steps = obj.get("steps")
            n_steps = len(steps) if isinstance(steps, list) else 0
            d = dict(obj)
            d["scores"] = _partial_scores(obj["scores"], n_steps, str(p), n) if n_steps else obj["scores"]
            sol = Solution.from_dict(d, file=str(p), line=n)
            sol.meta = {k: v for k, v in sol.meta.items() if k != "label"}  # the labels hold it
            sol.meta[META_SUBSET] = subset
            _labels_from_meta_label(sol, meta.get("label"), str(p), n)
        out.setdefault(subset, []).append(sol)
    if not out:
        raise PrmkitError("no records", file=str(p))
    if subsets:
        missing = [s for s in subsets if s not in out]
        if missing:
            raise PrmkitError(f"subsets {missing} not in the score file (has {sorted(out)})", file=str(p))
        out = {s: out[s] for s in subsets}
    return out


def _labels_from_meta_label(sol: Solution, label: Any, file: str, line: int) -> None:
    """A score file may give the first error as ``meta.label`` (ProcessBench's ``label``) instead of
    ``labels``: turn it into labels; with both, they must agree."""
    if label is None:
        if sol.labels is None:
            raise PrmkitError("no labels and no meta.label", file=file, line=line, field="labels")
        return
    if isinstance(label, bool) or not isinstance(label, int):
        raise PrmkitError(f"must be an integer, got {label!r}", file=file, line=line, field="meta.label")
    if sol.labels is None:
        try:
            sol.labels = labels_from_first_error(label, len(sol.steps))
        except PrmkitError as e:
            raise e.located(file=file, line=line) from None
    elif sol.first_error != label:
        raise PrmkitError(
            f"{label} disagrees with the first error of labels ({sol.first_error})",
            file=file,
            line=line,
            field="meta.label",
        )


def score_processbench(
    scorer: Any, data: dict[str, list[Solution]], batch_size: int = 16
) -> dict[str, list[Solution]]:
    """Fill ``scores`` of every record with a :class:`prmkit.scorers.Scorer` (progress bar)."""
    from prmkit.progress import track

    out: dict[str, list[Solution]] = {}
    for subset, recs in data.items():
        scored = scorer.score_records(iter(recs), batch_size=batch_size)
        out[subset] = list(track(scored, total=len(recs), description=f"scoring {subset}"))
    return out


# ---------------------------------------------------------------- metric


def predict_first_error(scores: Sequence[float | None] | None, threshold: float = 0.5) -> int:
    """First step with score ``< threshold`` (``None`` skipped), ``-1`` when none.

    Example:
        >>> predict_first_error([0.9, None, 0.2], 0.5), predict_first_error([0.9, 0.6], 0.5)
        (2, -1)
    """
    return first_error_of(list(scores) if scores is not None else None, threshold)


def processbench_metrics(preds: Sequence[int], labels: Sequence[int]) -> dict[str, Any]:
    """``acc_err``, ``acc_corr``, ``f1`` (percent) and the counts; an empty group gives ``None``.

    Example:
        >>> processbench_metrics([-1, -1, -1], [0, 2, -1])["f1"]
        0.0
    """
    if len(preds) != len(labels):
        raise PrmkitError(f"{len(preds)} predictions for {len(labels)} labels")
    err = [p == y for p, y in zip(preds, labels, strict=True) if y != -1]
    cor = [p == -1 for p, y in zip(preds, labels, strict=True) if y == -1]
    acc_err = 100.0 * sum(err) / len(err) if err else None
    acc_corr = 100.0 * sum(cor) / len(cor) if cor else None
    if acc_err is None or acc_corr is None:
        f1 = None
    elif acc_err + acc_corr == 0:
        f1 = 0.0
    else:
        f1 = 2 * acc_err * acc_corr / (acc_err + acc_corr)
    return {"acc_err": acc_err, "acc_corr": acc_corr, "f1": f1, "n_err": len(err), "n_corr": len(cor)}


def _match_intervals(items: Iterable[tuple[Sequence[float | None], int]]):
    """Per sample, the threshold interval ``lo < tau <= hi`` on which the prediction matches."""
    import numpy as np

    lo_e, hi_e, hi_c = [], [], []
    for scores, label in items:
        if label == -1:
            vals = [v for v in scores if v is not None]
            hi_c.append(min(vals) if vals else np.inf)
            continue
        pk = scores[label] if label < len(scores) else None
        if pk is None:
            continue  # never predicted at the labelled step: a miss for every tau
        before = [v for v in scores[:label] if v is not None]
        hi = min(before) if before else np.inf
        if pk < hi:
            lo_e.append(pk)
            hi_e.append(hi)
    return (
        np.sort(np.array(lo_e, dtype=float)),
        np.sort(np.array(hi_e, dtype=float)),
        np.sort(np.array(hi_c, dtype=float)),
    )


def tune_threshold(
    items: Sequence[tuple[Sequence[float | None], int]], n_grid: int = 10001
) -> tuple[float, float]:
    """The threshold in ``linspace(0, 1, n_grid)`` with the best F1 on ``(scores, label)`` pairs
    (ties -> the smallest threshold); returns ``(threshold, f1)``. Exact, O((n + grid) log n).

    Example:
        >>> items = [([0.9, 0.3], 1), ([0.8, 0.6], -1), ([0.2, 0.9], 0)]
        >>> tau, f1 = tune_threshold(items, n_grid=101)
        >>> (tau, f1)
        (0.31, 100.0)
    """
    import numpy as np

    if n_grid < 2:
        raise PrmkitError("n_grid must be >= 2")
    n_err = sum(1 for _, y in items if y != -1)
    n_corr = len(items) - n_err
    if n_err == 0 or n_corr == 0:
        raise PrmkitError("threshold tuning needs both erroneous and correct samples")
    lo_e, hi_e, hi_c = _match_intervals(items)
    grid = np.linspace(0.0, 1.0, n_grid)
    # count(lo < tau) - count(hi < tau): intervals (lo, hi] that contain tau
    ok_err = np.searchsorted(lo_e, grid, side="left") - np.searchsorted(hi_e, grid, side="left")
    ok_corr = len(hi_c) - np.searchsorted(hi_c, grid, side="left")
    ae = 100.0 * ok_err / n_err
    ac = 100.0 * ok_corr / n_corr
    denom = ae + ac
    f1 = np.where(denom > 0, 2 * ae * ac / np.where(denom > 0, denom, 1), 0.0)
    best = int(np.argmax(f1))
    return float(grid[best]), float(f1[best])


# ---------------------------------------------------------------- evaluation


def _items(recs: Sequence[Solution], file_hint: str = "") -> list[tuple[list[float | None], int]]:
    out = []
    for r in recs:
        if r.scores is None:
            raise PrmkitError(f"record '{r.id}' has no scores{file_hint}", field="scores")
        if r.labels is None:
            raise PrmkitError(f"record '{r.id}' has no labels (the first error){file_hint}", field="labels")
        out.append((list(r.scores), r.first_error))
    return out


def _policy(items_by_subset: dict[str, list[tuple[list[float | None], int]]], tau: float) -> dict[str, Any]:
    subsets = {}
    deltas: Counter[int] = Counter()
    false_alarms = 0
    for name, items in items_by_subset.items():
        preds = [predict_first_error(s, tau) for s, _ in items]
        labels = [y for _, y in items]
        subsets[name] = processbench_metrics(preds, labels)
        for (s, y), p in zip(items, preds, strict=True):
            if y != -1:
                deltas[(p if p != -1 else len(s)) - y] += 1
            elif p != -1:
                false_alarms += 1
    f1s = [m["f1"] for m in subsets.values() if m["f1"] is not None]
    return {
        "threshold": tau,
        "subsets": subsets,
        "average_f1": sum(f1s) / len(f1s) if f1s else None,
        "first_error_delta": {str(k): v for k, v in sorted(deltas.items())},
        "false_alarms_on_correct": false_alarms,
    }


def _hist(values: list[float], bins: int = 20) -> list[int]:
    counts = [0] * bins
    for v in values:
        counts[min(int(v * bins), bins - 1)] += 1
    return counts


def evaluate_processbench(
    data: dict[str, list[Solution]],
    threshold: float = 0.5,
    tune_on: str | None = "gsm8k",
    n_grid: int = 10001,
) -> dict[str, Any]:
    """ProcessBench metrics of scored records (``{subset: records}``) under both threshold policies.

    Returns ``{"benchmark", "policies": {"fixed": ..., "tuned": ...}, "n_samples", "n_partial",
    "score_hist"}``; each policy holds ``threshold``, per-subset ``acc_err/acc_corr/f1``,
    ``average_f1`` and the predicted-minus-true first-error histogram (``first_error_delta``,
    erroneous samples; "no error predicted" counts as position ``n_steps``). When ``tune_on`` is
    absent from ``data`` the tuned policy holds an ``error`` message instead.

    Example:
        >>> recs = [Solution(id=f"gsm8k-{i}", problem="p", steps=["a", "b"], scores=s,
        ...                  labels=labels_from_first_error(y, 2))
        ...         for i, (s, y) in enumerate([([0.9, 0.3], 1), ([0.8, 0.6], -1), ([0.2, 0.9], 0)])]
        >>> res = evaluate_processbench({"gsm8k": recs}, n_grid=101)
        >>> res["policies"]["fixed"]["average_f1"], res["policies"]["tuned"]["threshold"]
        (100.0, 0.31)
    """
    items = {name: _items(recs) for name, recs in data.items()}
    n_partial = 0
    correct_scores: list[float] = []
    wrong_scores: list[float] = []
    for recs in data.values():
        for r in recs:
            assert r.scores is not None
            if r.scores and r.scores[-1] is None:
                n_partial += 1
            y = r.first_error
            upto = len(r.steps) if y == -1 else y
            correct_scores += [v for v in r.scores[:upto] if v is not None]
            if y != -1 and r.scores[y] is not None:
                wrong_scores.append(float(r.scores[y]))  # type: ignore[arg-type]
    policies: dict[str, Any] = {"fixed": _policy(items, threshold)}
    if tune_on is None:
        policies["tuned"] = {"error": "tuning disabled"}
    elif tune_on not in items:
        policies["tuned"] = {"error": f"tuning subset '{tune_on}' not in the data ({sorted(items)})"}
    else:
        try:
            tau, tune_f1 = tune_threshold(items[tune_on], n_grid=n_grid)
        except PrmkitError as e:
            policies["tuned"] = {"error": f"cannot tune on '{tune_on}': {e}"}
        else:
            pol = _policy(items, tau)
            pol.update({"tuned_on": tune_on, "tune_f1": tune_f1, "n_grid": n_grid})
            policies["tuned"] = pol
    return {
        "benchmark": "processbench",
        "policies": policies,
        "n_samples": {k: len(v) for k, v in items.items()},
        "n_partial": n_partial,
        "score_hist": {
            "bins": 20,
            "correct_steps": _hist(correct_scores),
            "first_wrong_steps": _hist(wrong_scores),
        },
    }


def processbench_markdown(result: dict[str, Any]) -> str:
    """Markdown table: one row per policy and subset, plus the average F1.

    Example:
        >>> r = {"policies": {"fixed": {"threshold": 0.5, "average_f1": 50.0, "subsets": {"gsm8k":
        ...      {"acc_err": 40.0, "acc_corr": 66.7, "f1": 50.0, "n_err": 5, "n_corr": 3}}}}}
        >>> print(processbench_markdown(r).splitlines()[4])
        | fixed (tau=0.5000) | gsm8k | 40.0 | 66.7 | 50.0 | 5 | 3 |
    """
    lines = [
        "## ProcessBench",
        "",
        "| policy | subset | acc_err | acc_corr | F1 | n_err | n_corr |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name, pol in result["policies"].items():
        if "error" in pol:
            notes.append(f"- {name} threshold: {pol['error']}")
            continue
        label = f"{name} (tau={pol['threshold']:.4f})"
        for subset, m in pol["subsets"].items():
            lines.append(
                f"| {label} | {subset} | {fmt(m['acc_err'])} | {fmt(m['acc_corr'])} | {fmt(m['f1'])} "
                f"| {m['n_err']} | {m['n_corr']} |"
            )
        lines.append(f"| {label} | **average F1** | | | **{fmt(pol['average_f1'])}** | | |")
        if name == "tuned":
            notes.append(
                f"- tuned threshold: {pol['threshold']:.4f} (best F1 {pol['tune_f1']:.1f} on {pol['tuned_on']}, "
                f"grid of {pol['n_grid']} in [0, 1]); its F1 on {pol['tuned_on']} itself is optimistic"
            )
    if result.get("n_partial"):
        notes.append(f"- {result['n_partial']} records have scores only up to an earlier step (see docs)")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
