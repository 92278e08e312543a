"""File-level search runs (what ``prmkit search`` calls), summaries and the accuracy-vs-compute plot.

:func:`run_search` reads problems (JSONL: ``id``, ``problem``/``question``, ``reference_answer``),
builds the policy and the scorer, searches every problem and appends one
:class:`~prmkit.search.base.SearchResult` line per problem to ``out`` (flushed per problem;
``resume=True`` skips problems already in ``out``). Beside it, ``<out>.meta.json`` records the
config, versions and the summary. Optional outputs: the chosen solutions as canonical records
(``chosen_out``, for ``prmkit eval``/``score``) and an HTML report (``report``).

Example (not run here: it writes files)::

    from prmkit.search.run import SearchRunConfig, run_search
    cfg = SearchRunConfig(input="problems.jsonl", out="beam.jsonl", policy="arith",
                          scorer="arith-oracle", method="beam", n=16, width=4)
    summary = run_search(cfg)
    summary["accuracy"], summary["mean_generated_tokens"]
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import Problem, RecordWriter, iter_json_lines, read_problems
from prmkit.search.base import SearchConfig, SearchResult, rechoose, search_one


@dataclass
class SearchRunConfig(SearchConfig):
    """A search run: the :class:`SearchConfig` fields plus inputs, outputs, policy and scorer."""

    input: str | None = field(default=None, metadata={"help": "problems JSONL"})
    out: str | None = field(default=None, metadata={"help": "results JSONL (one SearchResult per line)"})
    policy: str = field(default="arith", metadata={"help": "policy backend (arith, hf, openai, ...)"})
    policy_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "policy options"})
    prm: str | None = field(default=None, metadata={"help": "PRM checkpoint path"})
    format: str | None = field(default=None, metadata={"help": "scorer family for --prm (else prmkit.json)"})
    scorer: str | None = field(
        default=None, metadata={"help": "scorer by name (calculator, arith-oracle...)"}
    )
    scorer_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "scorer options"})
    chosen_out: str | None = field(default=None, metadata={"help": "chosen solutions as canonical records"})
    report: str | None = field(default=None, metadata={"help": "HTML report path"})
    resume: bool = field(default=False, metadata={"help": "skip problems already in --out"})
    limit: int | None = field(default=None, metadata={"help": "first N problems only"})

    def search_config(self) -> SearchConfig:
        names = [f.name for f in dataclasses.fields(SearchConfig)]
        return SearchConfig(**{k: getattr(self, k) for k in names}).validate()


def parse_options(items: Iterable[str] | None, flag: str = "--policy-opt") -> dict[str, Any]:
    """``["k=v", ...]`` -> dict; values are read as YAML scalars (numbers, booleans, null).

    Example:
        >>> parse_options(["error_rate=0.2", "model=smollm2", "greedy=true"])
        {'error_rate': 0.2, 'model': 'smollm2', 'greedy': True}
    """
    import yaml

    out: dict[str, Any] = {}
    for it in items or []:
        if "=" not in it:
            raise PrmkitError(f"expected KEY=VALUE, got {it!r}", field=flag)
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v) if v.strip() else ""
        except yaml.YAMLError:
            out[k.strip()] = v
    return out


def build_scorer(cfg: SearchRunConfig, problems: Sequence[Problem] | None = None):  # -> Scorer
    """The scorer of a run: ``--prm PATH [--format F]`` or ``--scorer NAME``.

    A scorer built from the problems themselves (``arith-oracle``) gets them (or ``--in``).
    """
    import inspect

    from prmkit.scorers import SCORERS, load_scorer

    if cfg.prm is None and cfg.scorer is None:
        raise PrmkitError("give a PRM (--prm PATH) or a scorer name (--scorer NAME)", field="scorer")
    if cfg.prm is not None and cfg.scorer is not None:
        raise PrmkitError("give either --prm or --scorer, not both", field="scorer")
    opts = dict(cfg.scorer_options)
    if cfg.prm is not None:
        return load_scorer(cfg.format, cfg.prm, **opts)
    cls = SCORERS.get(cfg.scorer)  # type: ignore[arg-type]
    init_params = inspect.signature(cls.__init__).parameters
    if "problems" in init_params and "problems_file" not in opts and "problems" not in opts:
        if problems is None:
            raise PrmkitError(f"scorer '{cfg.scorer}' needs the problems", field="scorer")
        return cls(problems, **opts)
    return load_scorer(cfg.scorer, None, **opts)


def _done_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    ids = set()
    for n, obj, _ in iter_json_lines(path):
        if not isinstance(obj, dict) or "id" not in obj:
            raise PrmkitError("not a search result line", file=str(path), line=n, field="id")
        ids.add(str(obj["id"]))
    return ids


def read_results(path: str | os.PathLike) -> list[SearchResult]:
    """Read a results JSONL written by :func:`run_search`."""
    return [SearchResult.from_dict(obj, file=str(path), line=n) for n, obj, _ in iter_json_lines(path)]


def run_search(cfg: SearchRunConfig, *, quiet: bool | None = None) -> dict[str, Any]:
    """Search every problem of ``cfg.input``, writing results incrementally; returns the summary."""
    from prmkit.policies import load_policy
    from prmkit.progress import track

    if not cfg.input or not cfg.out:
        raise PrmkitError(
            "need --in (problems JSONL) and --out (results JSONL)", field="input" if not cfg.input else "out"
        )
    scfg = cfg.search_config()
    problems = list(read_problems(cfg.input))
    if not problems:
        raise PrmkitError("no problems", file=cfg.input)
    if cfg.limit is not None:
        problems = problems[: cfg.limit]
    out = Path(cfg.out)
    done = _done_ids(out) if cfg.resume else set()
    todo = [p for p in problems if p.id not in done]
    policy = load_policy(cfg.policy, **cfg.policy_options)
    scorer = build_scorer(cfg, problems)
    try:
        with RecordWriter(out, append=cfg.resume) as w:
            for p in track(todo, total=len(todo), description=f"search {scfg.method}", quiet=quiet):
                w.write(search_one(p, policy, scorer, scfg).to_dict())
    finally:
        policy.close()
        scorer.close()
    results = read_results(out)
    summary = summarize(results)
    if cfg.chosen_out:
        from prmkit.records import write_records

        write_records(cfg.chosen_out, [r.chosen for r in results if r.chosen is not None])
    meta = run_metadata(cfg, summary)
    Path(str(out) + ".meta.json").write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
    if cfg.report:
        write_report({f"{scfg.method} (n={scfg.n}, width={scfg.width})": results}, cfg.report, meta=meta)
    return summary


def run_metadata(cfg: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """Config, versions, seed and summary of a run (written beside its outputs)."""
    import platform

    from prmkit import __version__
    from prmkit.config import config_to_dict

    return {
        "config": config_to_dict(cfg),
        "prmkit": __version__,
        "python": platform.python_version(),
        "summary": summary,
    }


# ---------------------------------------------------------------- summaries


def summarize(results: Sequence[SearchResult]) -> dict[str, Any]:
    """Accuracy and mean compute per problem over a list of results.

    ``accuracy`` counts problems with a reference answer (no chosen solution = wrong).
    """
    n = len(results)
    graded = [r for r in results if r.meta.get("correct") is not None]

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    return {
        "problems": n,
        "graded": len(graded),
        "accuracy": mean([1.0 if r.meta["correct"] else 0.0 for r in graded]) if graded else None,
        "no_choice": sum(1 for r in results if r.chosen is None),
        "chose_unfinished": sum(1 for r in results if r.meta.get("chose_unfinished")),
        "mean_generated_tokens": mean([r.compute.generated_tokens for r in results]),
        "mean_policy_calls": mean([r.compute.policy_calls for r in results]),
        "mean_scorer_calls": mean([r.compute.scorer_calls for r in results]),
        "mean_scored_steps": mean([r.compute.scored_steps for r in results]),
        "mean_wall_time_s": mean([r.compute.wall_time_s for r in results]),
    }


def rule_accuracy(results: Sequence[SearchResult], agg: str, rule: str, **params: Any) -> float | None:
    """Accuracy when each result's candidates are re-chosen with another aggregation/answer rule."""
    from prmkit.search.base import is_correct

    graded = [r for r in results if r.meta.get("reference_answer") is not None]
    if not graded:
        return None
    ok = 0
    for r in graded:
        s = rechoose(r, agg, rule, **params)
        ok += bool(is_correct(None if s is None else s.answer, r.meta["reference_answer"]))
    return ok / len(graded)


# ---------------------------------------------------------------- plot and report


def accuracy_vs_tokens_svg(
    series: dict[str, list[tuple[float, float]]],
    title: str = "accuracy vs generated tokens",
    width: int = 560,
    height: int = 340,
) -> str:
    """A small dependency-free SVG line plot: one series of ``(mean tokens, accuracy)`` per method.

    Example:
        >>> svg = accuracy_vs_tokens_svg({"beam": [(100, 0.5), (200, 0.8)]})
        >>> svg.startswith("<svg") and "beam" in svg
        True
    """
    import html

    pts = [p for s in series.values() for p in s]
    if not pts:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40"><text x="5" y="25">no data</text></svg>'
    xs = [max(p[0], 1.0) for p in pts]
    lo, hi = math.log10(min(xs)), math.log10(max(xs))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    ml, mr, mt, mb = 50, 150, 30, 40
    pw, ph = width - ml - mr, height - mt - mb

    def X(x: float) -> float:
        return ml + (math.log10(max(x, 1.0)) - lo) / (hi - lo) * pw

    def Y(y: float) -> float:
        return mt + (1 - y) * ph

    colors = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
    ]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="{ml}" y="18" font-size="13">{html.escape(title)}</text>',
        f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    for k in range(6):
        y = k / 5
        out.append(f'<text x="{ml - 6}" y="{Y(y) + 4:.1f}" text-anchor="end">{y:.1f}</text>')
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{Y(y):.1f}" y2="{Y(y):.1f}" stroke="#eee"/>')
    for e in range(math.floor(lo), math.ceil(hi) + 1):
        if lo - 1e-9 <= e <= hi + 1e-9:
            out.append(f'<text x="{X(10**e):.1f}" y="{mt + ph + 15}" text-anchor="middle">1e{e}</text>')
    out.append(
        f'<text x="{ml + pw / 2}" y="{height - 6}" text-anchor="middle">mean generated tokens per problem (log)</text>'
    )
    for i, (name, s) in enumerate(series.items()):
        c = colors[i % len(colors)]
        s = sorted(s)
        if len(s) > 1:
            d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in s)
            out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{d}"/>')
        for x, y in s:
            out.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3" fill="{c}"/>')
        out.append(f'<text x="{ml + pw + 8}" y="{mt + 14 * i + 10}" fill="{c}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def write_report(
    runs: dict[str, Sequence[SearchResult]], path: str | os.PathLike, meta: dict[str, Any] | None = None
) -> str:
    """An HTML report (via :mod:`prmkit.evaluate.report`): summary table + accuracy-vs-tokens plot."""
    series: dict[str, list[tuple[float, float]]] = {}
    rows = [
        "| run | problems | accuracy | tokens/problem | policy calls | scorer calls | chose unfinished |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, res in runs.items():
        s = summarize(res)
        acc = s["accuracy"]
        rows.append(
            f"| {name} | {s['problems']} | {'-' if acc is None else f'{100 * acc:.1f}%'} | "
            f"{s['mean_generated_tokens']:.0f} | {s['mean_policy_calls']:.1f} | {s['mean_scorer_calls']:.1f} | "
            f"{s['chose_unfinished']} |"
        )
        if acc is not None:
            series[name] = [(s["mean_generated_tokens"], acc)]
    svg = accuracy_vs_tokens_svg(series)
    try:
        from prmkit.evaluate.report import Figure, Section, build_report
    except ImportError:  # the report module is optional here: write a bare page
        page = f"<!DOCTYPE html><html><body><pre>{chr(10).join(rows)}</pre>{svg}</body></html>"
        Path(path).write_text(page, encoding="utf-8")
        return page
    sec = Section(
        "Test-time search",
        markdown="\n".join(rows),
        figures=[Figure("search_accuracy_vs_tokens", svg, "accuracy vs mean generated tokens")],
    )
    return build_report([sec], path, title="prmkit search", meta=meta)
