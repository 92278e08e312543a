"""Every plot prmkit draws, on matplotlib, as inline SVG :class:`Figure` objects for the HTML report.

One plotting path for the whole package: the evaluation report (:mod:`prmkit.evaluate.report`),
the search report (:mod:`prmkit.search.run`) and the quickstart report all draw here. Plots use
the object-oriented matplotlib API (``matplotlib.figure.Figure``, no global ``pyplot`` state, so
drawing is thread-safe and never opens a window) and are serialised to SVG with deterministic ids
(``svg.hashsalt`` per figure, no dates), so several figures can be inlined in one page and two
runs give the same bytes. matplotlib is the ``report`` extra: without it each plot is a small
SVG saying so, and reports are still written.

Example:
    >>> fig = plot_lines({"beam": [(100, 0.5), (200, 0.8)]}, "acc", "tokens", "accuracy", logx=True)
    >>> fig.name, fig.svg.startswith("<svg")
    ('acc', True)
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from typing import Any

#: the text of a plot that could not be drawn because matplotlib is missing
NO_MATPLOTLIB = "matplotlib is not installed (pip install prmkit[report]): plot omitted"


@dataclass
class Figure:
    """One plot: a name (the report's ``data-plot`` attribute), SVG markup and a caption."""

    name: str
    svg: str
    caption: str = ""


def placeholder(name: str, why: str) -> Figure:
    """A one-line SVG standing in for a plot that cannot be drawn.

    Example:
        >>> placeholder("x", "no data").svg.count("no data")
        1
    """
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="480" height="60" viewBox="0 0 480 60">'
        f'<text x="10" y="35" font-size="14">{html.escape(why)}</text></svg>'
    )
    return Figure(name, svg, why)


def new_figure(ncols: int = 1, width: float = 6.0, height: float = 3.6) -> tuple[Any, list[Any]]:
    """A matplotlib figure with ``ncols`` axes side by side, or ``(None, [])`` without matplotlib."""
    try:
        from matplotlib.figure import Figure as MplFigure
    except ImportError:
        return None, []
    fig = MplFigure(figsize=(width * ncols if ncols > 1 else width, height))
    return fig, [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]


def svg_of(fig: Any, name: str) -> str:
    """The ``<svg>`` element of a matplotlib figure; ids are salted with ``name`` and no date is written."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"prmkit-{name}", "svg.fonttype": "none"}):
        fig.savefig(
            buf,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    s = buf.getvalue()
    return s[s.index("<svg") :]


def histogram_counts(values: list[float], bins: int, lo: float, hi: float) -> list[int]:
    """Counts of ``values`` in ``bins`` equal bins over ``[lo, hi]`` (values outside go to the end bins).

    Example:
        >>> histogram_counts([0.0, 0.1, 0.5, 0.99, 1.0, 7.0], 2, 0.0, 1.0)
        [2, 4]
    """
    out = [0] * bins
    for v in values:
        k = int((v - lo) / (hi - lo) * bins) if hi > lo else 0
        out[min(max(k, 0), bins - 1)] += 1
    return out


# ---------------------------------------------------------------- generic


def plot_lines(
    series: dict[str, list[tuple[float, float]]],
    name: str,
    xlabel: str,
    ylabel: str,
    *,
    logx: bool = False,
    ylim: tuple[float, float] | None = None,
    caption: str | None = None,
) -> Figure:
    """One line (with markers when short) per series of ``(x, y)`` points, sorted by x."""
    fig, axes = new_figure(height=3.4)
    if fig is None:
        return placeholder(name, NO_MATPLOTLIB)
    ax = axes[0]
    for label, pts in series.items():
        if pts:
            pts = sorted(pts)
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None, label=label
            )
    if logx:
        ax.set_xscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if any(series.values()):
        ax.legend(fontsize=8)
    return Figure(name, svg_of(fig, name), caption or f"{ylabel} vs {xlabel}")


def plot_accuracy_vs_tokens(
    series: dict[str, list[tuple[float, float]]], name: str = "search_accuracy_vs_tokens"
) -> Figure:
    """Search accuracy (0-1) against mean generated tokens per problem (log axis), one series per run."""
    return plot_lines(
        series,
        name,
        "mean generated tokens per problem (log)",
        "accuracy",
        logx=True,
        ylim=(0.0, 1.0),
        caption="accuracy vs mean generated tokens",
    )


# ---------------------------------------------------------------- evaluation


def plot_bon_curves(result: dict[str, Any], protocol: str = "random") -> Figure:
    """Accuracy vs N: left, each step aggregation with best-of-N; right, each answer rule with the
    first aggregation; baselines majority, oracle and pass@k. Bands = min..max over seeds."""
    name = f"bon_curves_{protocol}"
    fig, axes = new_figure(ncols=2)
    if fig is None:
        return placeholder(name, NO_MATPLOTLIB)
    pr = result["protocols"][protocol]
    ns = pr["n"]
    curves = pr["curves"]
    aggs = result["aggregations"]
    scored = [r for r in result["rules"] if r != "majority"]
    left = [f"{a}/best_of_n" for a in aggs if f"{a}/best_of_n" in curves]
    right = [f"{aggs[0]}/{r}" for r in scored] if aggs else []
    for ax, keys, title in (
        (axes[0], left, "step aggregations (best-of-N)"),
        (axes[1], right, "answer rules"),
    ):
        for k in keys + ["majority", "oracle"]:
            if k not in curves:
                continue
            c = curves[k]
            m = [100 * v for v in c["mean"]]
            style = "--" if k in ("majority", "oracle") else "-"
            ax.plot(ns, m, style, marker="o", ms=3, label=k)
            ax.fill_between(ns, [100 * v for v in c["min"]], [100 * v for v in c["max"]], alpha=0.15)
        ax.plot(ns, [100 * result["pass_at_k"][str(n)] for n in ns], ":", color="gray", label="pass@k")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.set_xlabel("N")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{title} [{protocol}]", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return Figure(
        name,
        svg_of(fig, name),
        f"Best-of-N accuracy vs N ({pr['description']}); bands: min..max over trials",
    )


def plot_f1_per_subset(result: dict[str, Any]) -> Figure:
    """Grouped bars of ProcessBench F1 per subset, one bar per threshold policy."""
    name = "processbench_f1"
    fig, axes = new_figure()
    if fig is None:
        return placeholder(name, NO_MATPLOTLIB)
    ax = axes[0]
    pols = {k: v for k, v in result["policies"].items() if "error" not in v}
    subsets = list(next(iter(pols.values()))["subsets"]) + ["average"] if pols else []
    width = 0.8 / max(len(pols), 1)
    for j, (pname, pol) in enumerate(pols.items()):
        vals = [pol["subsets"][s]["f1"] or 0.0 for s in subsets[:-1]] + [pol["average_f1"] or 0.0]
        xs = [i + j * width for i in range(len(subsets))]
        bars = ax.bar(xs, vals, width, label=f"{pname} (tau={pol['threshold']:.3f})")
        ax.bar_label(bars, fmt="%.1f", fontsize=7)  # a value of 0 stays readable, not an empty box
    ax.set_xticks([i + width * (len(pols) - 1) / 2 for i in range(len(subsets))], subsets)
    ax.set_ylabel("F1")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return Figure(name, svg_of(fig, name), "ProcessBench F1 per subset and threshold policy")


def plot_score_hist(
    correct: list[int],
    wrong: list[int],
    name: str,
    labels: tuple[str, str] = ("correct", "wrong"),
    lo: float = 0.0,
    hi: float = 1.0,
) -> Figure:
    """Density histograms of scores of correct vs wrong items from precomputed bin counts."""
    fig, axes = new_figure()
    if fig is None:
        return placeholder(name, NO_MATPLOTLIB)
    ax = axes[0]
    nb = len(correct)
    edges = [lo + (hi - lo) * k / nb for k in range(nb + 1)]
    for counts, lab in ((correct, labels[0]), (wrong, labels[1])):
        total = sum(counts) or 1
        ax.stairs([c / total for c in counts], edges, fill=True, alpha=0.45, label=f"{lab} (n={sum(counts)})")
    ax.set_xlabel("score")
    ax.set_ylabel("share")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return Figure(name, svg_of(fig, name), f"Score histogram: {labels[0]} vs {labels[1]}")


def plot_reliability(bins: list[dict[str, Any]], name: str = "reliability") -> Figure:
    """Reliability diagram: mean label vs mean score per bin, with the diagonal."""
    fig, axes = new_figure(width=4.5, height=4.0)
    if fig is None:
        return placeholder(name, NO_MATPLOTLIB)
    ax = axes[0]
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect")
    pts = [(b["mean_score"], b["mean_label"], b["count"]) for b in bins if b["count"]]
    ax.bar(
        [(b["lo"] + b["hi"]) / 2 for b in bins],
        [b["mean_label"] or 0 for b in bins],
        width=bins[0]["hi"] - bins[0]["lo"] if bins else 0.1,
        alpha=0.3,
        edgecolor="k",
        label="accuracy per bin",
    )
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label="mean label vs mean score")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("score")
    ax.set_ylabel("mean label")
    ax.legend(fontsize=7)
    return Figure(name, svg_of(fig, name), "Reliability diagram")


def plot_first_error_delta(delta: dict[str, int], name: str = "first_error_delta") -> Figure:
    """Histogram of predicted minus true first-error index on erroneous samples."""
    fig, axes = new_figure()
    if fig is None:
        return placeholder(name, NO_MATPLOTLIB)
    ax = axes[0]
    xs = sorted(int(k) for k in delta)
    ax.bar(xs, [delta[str(x)] for x in xs], color=["tab:green" if x == 0 else "tab:red" for x in xs])
    ax.set_xlabel("predicted - true first error (no error predicted = n_steps)")
    ax.set_ylabel("samples")
    ax.grid(alpha=0.3, axis="y")
    return Figure(name, svg_of(fig, name), "Predicted minus true first-error index (erroneous samples)")
