"""Self-contained HTML reports: sections of Markdown text plus inline SVG plots, no external URLs.

Any stage can build a report from several result sections::

    from prmkit.evaluate.report import Section, build_report, sections_for
    sections = sections_for(bon_result) + [Section("Search", markdown="| a | b |\\n|---|---|\\n| 1 | 2 |")]
    build_report(sections, "runs/report.html", title="My run", meta={"seed": 0})

:func:`sections_for` turns a result dict of any evaluator (``benchmark`` = ``processbench``,
``prmbench``, ``bon``, ``calibration``) into sections with the standard plots. Plots are drawn
with matplotlib (the ``report`` extra) as inline SVG; without matplotlib each plot is a small
hand-written SVG saying so, and the report is still written.

The page carries a tiny inline script that counts the plots and records window errors in
``<body data-plots=... data-plots-rendered=... data-errors=...>`` (used by the headless-browser
test; harmless to readers).

Example:
    >>> html = build_report([Section("Hello", markdown="Some **bold** text.")], title="t")
    >>> "<strong>bold</strong>" in html and "http" not in html.split("<body", 1)[1]
    True
"""

from __future__ import annotations

import html as _html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError


@dataclass
class Figure:
    """One plot: a name (``data-plot`` attribute), SVG markup and a caption."""

    name: str
    svg: str
    caption: str = ""


@dataclass
class Section:
    """A report section: a title, Markdown text, plots, and optional raw data (shown folded)."""

    title: str
    markdown: str = ""
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, Any] | None = None


# ---------------------------------------------------------------- markdown (the small subset we emit)


def _inline(text: str) -> str:
    t = _html.escape(text, quote=False)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return t


def markdown_to_html(md: str) -> str:
    """Convert the Markdown subset prmkit writes (headings, tables, bullets, paragraphs, bold, code).

    Example:
        >>> markdown_to_html("| a | b |\\n|---|---|\\n| 1 | 2 |")
        '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>'
    """
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
            continue
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            head, body = rows[0], [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
            t = (
                "<table><thead><tr>"
                + "".join(f"<th>{_inline(c)}</th>" for c in head)
                + "</tr></thead><tbody>"
            )
            t += "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
            out.append(t + "</tbody></table>")
        elif line.lstrip().startswith("- "):
            items = []
            while i < len(lines) and lines[i].lstrip().startswith("- "):
                items.append(f"<li>{_inline(lines[i].lstrip()[2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ")):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "".join(out)


# ---------------------------------------------------------------- plots


def _placeholder(name: str, why: str) -> Figure:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="480" height="60" viewBox="0 0 480 60">'
        f'<text x="10" y="35" font-size="14">{_html.escape(why)}</text></svg>'
    )
    return Figure(name, svg, why)


def _svg_of(fig: Any, name: str) -> str:
    import io

    import matplotlib

    buf = io.StringIO()
    # a per-figure salt keeps clip-path ids unique across figures inlined in one page
    with matplotlib.rc_context({"svg.hashsalt": f"prmkit-{name}", "svg.fonttype": "none"}):
        fig.savefig(
            buf,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    s = buf.getvalue()
    return s[s.index("<svg") :]


def _new_figure(ncols: int = 1, width: float = 6.0, height: float = 3.6):
    try:
        from matplotlib.figure import Figure as MplFigure
    except ImportError:
        return None, None
    fig = MplFigure(figsize=(width * ncols if ncols > 1 else width, height))
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, axes


_NO_MPL = "matplotlib is not installed (pip install prmkit[report]): plot omitted"


def plot_bon_curves(result: dict[str, Any], protocol: str = "random") -> Figure:
    """Accuracy vs N: left, each step aggregation with best-of-N; right, each answer rule with the
    first aggregation; baselines majority, oracle and pass@k. Bands = min..max over seeds."""
    name = f"bon_curves_{protocol}"
    fig, axes = _new_figure(ncols=2)
    if fig is None:
        return _placeholder(name, _NO_MPL)
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
        _svg_of(fig, name),
        f"Best-of-N accuracy vs N ({pr['description']}); bands: min..max over trials",
    )


def plot_f1_per_subset(result: dict[str, Any]) -> Figure:
    """Grouped bars of ProcessBench F1 per subset, one bar per threshold policy."""
    name = "processbench_f1"
    fig, axes = _new_figure()
    if fig is None:
        return _placeholder(name, _NO_MPL)
    ax = axes[0]
    pols = {k: v for k, v in result["policies"].items() if "error" not in v}
    subsets = list(next(iter(pols.values()))["subsets"]) + ["average"] if pols else []
    width = 0.8 / max(len(pols), 1)
    for j, (pname, pol) in enumerate(pols.items()):
        vals = [pol["subsets"][s]["f1"] or 0.0 for s in subsets[:-1]] + [pol["average_f1"] or 0.0]
        xs = [i + j * width for i in range(len(subsets))]
        ax.bar(xs, vals, width, label=f"{pname} (tau={pol['threshold']:.3f})")
    ax.set_xticks([i + width * (len(pols) - 1) / 2 for i in range(len(subsets))], subsets)
    ax.set_ylabel("F1")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return Figure(name, _svg_of(fig, name), "ProcessBench F1 per subset and threshold policy")


def plot_score_hist(
    correct: list[int],
    wrong: list[int],
    name: str,
    labels: tuple[str, str] = ("correct", "wrong"),
    lo: float = 0.0,
    hi: float = 1.0,
) -> Figure:
    """Density histograms of scores of correct vs wrong items from precomputed bin counts."""
    fig, axes = _new_figure()
    if fig is None:
        return _placeholder(name, _NO_MPL)
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
    return Figure(name, _svg_of(fig, name), f"Score histogram: {labels[0]} vs {labels[1]}")


def _counts(values: list[float], bins: int, lo: float, hi: float) -> list[int]:
    out = [0] * bins
    for v in values:
        k = int((v - lo) / (hi - lo) * bins) if hi > lo else 0
        out[min(max(k, 0), bins - 1)] += 1
    return out


def plot_reliability(bins: list[dict[str, Any]], name: str = "reliability") -> Figure:
    """Reliability diagram: mean label vs mean score per bin, with the diagonal."""
    fig, axes = _new_figure(width=4.5, height=4.0)
    if fig is None:
        return _placeholder(name, _NO_MPL)
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
    return Figure(name, _svg_of(fig, name), "Reliability diagram")


def plot_first_error_delta(delta: dict[str, int], name: str = "first_error_delta") -> Figure:
    """Histogram of predicted minus true first-error index on erroneous samples."""
    fig, axes = _new_figure()
    if fig is None:
        return _placeholder(name, _NO_MPL)
    ax = axes[0]
    xs = sorted(int(k) for k in delta)
    ax.bar(xs, [delta[str(x)] for x in xs], color=["tab:green" if x == 0 else "tab:red" for x in xs])
    ax.set_xlabel("predicted - true first error (no error predicted = n_steps)")
    ax.set_ylabel("samples")
    ax.grid(alpha=0.3, axis="y")
    return Figure(name, _svg_of(fig, name), "Predicted minus true first-error index (erroneous samples)")


# ---------------------------------------------------------------- sections per result kind


def sections_for(result: dict[str, Any]) -> list[Section]:
    """Standard sections (Markdown + plots) for one evaluator result (by its ``benchmark`` key)."""
    kind = result.get("benchmark")
    if kind == "processbench":
        from prmkit.evaluate.processbench import processbench_markdown

        figs = [plot_f1_per_subset(result)]
        h = result["score_hist"]
        figs.append(
            plot_score_hist(
                h["correct_steps"],
                h["first_wrong_steps"],
                "processbench_score_hist",
                ("steps before the first error", "first wrong steps"),
            )
        )
        pol = (
            result["policies"]["tuned"]
            if "error" not in result["policies"]["tuned"]
            else result["policies"]["fixed"]
        )
        figs.append(plot_first_error_delta(pol["first_error_delta"]))
        if "calibration" in result:
            figs.append(plot_reliability(result["calibration"]["reliability"], "processbench_reliability"))
        return [Section("ProcessBench", processbench_markdown(result), figs)]
    if kind == "prmbench":
        from prmkit.evaluate.prmbench import prmbench_markdown

        h = result["score_hist"]
        figs = [
            plot_score_hist(
                h["correct_steps"],
                h["wrong_steps"],
                "prmbench_score_hist",
                ("correct steps", "erroneous steps"),
            )
        ]
        if "calibration" in result:
            figs.append(plot_reliability(result["calibration"]["reliability"], "prmbench_reliability"))
        return [Section("PRMBench", prmbench_markdown(result), figs)]
    if kind == "bon":
        from prmkit.evaluate.bon import bon_markdown

        figs = [plot_bon_curves(result, "random"), plot_bon_curves(result, "prefix")]
        ss = result["solution_scores"]
        vals = ss["correct"] + ss["wrong"]
        if vals:
            lo, hi = min(vals), max(vals)
            hi = hi if hi > lo else lo + 1.0
            figs.append(
                plot_score_hist(
                    _counts(ss["correct"], 20, lo, hi),
                    _counts(ss["wrong"], 20, lo, hi),
                    "bon_score_hist",
                    ("correct solutions", "wrong solutions"),
                    lo,
                    hi,
                )
            )
        if "calibration" in result:
            figs.append(plot_reliability(result["calibration"]["reliability"], "bon_reliability"))
        md = bon_markdown(result, "random") + "\n" + bon_markdown(result, "prefix").split("\n", 2)[2]
        return [Section("Best-of-N", md, figs)]
    if kind == "calibration":
        from prmkit.evaluate.calibration import calibration_markdown

        return [
            Section("Calibration", calibration_markdown(result), [plot_reliability(result["reliability"])])
        ]
    raise PrmkitError(f"no report sections for result kind {kind!r}")


# ---------------------------------------------------------------- page

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}thead{background:#f3f3f3}figure.plot{margin:1em 0}
figure.plot svg{max-width:100%;height:auto}figcaption{font-size:.85em;color:#555}code{background:#f3f3f3;padding:0 .2em}
pre{background:#f7f7f7;padding:.5em;overflow:auto;font-size:.8em}
"""

_HEAD_JS = "window.__prmkitErrors=[];window.addEventListener('error',function(e){window.__prmkitErrors.push(String(e.message))});"

_TAIL_JS = """(function(){var figs=document.querySelectorAll('figure.plot');var ok=0;
figs.forEach(function(f){var s=f.querySelector('svg');if(s&&s.getBoundingClientRect().width>0&&s.childElementCount>0){ok++;}});
var b=document.body;b.setAttribute('data-plots',String(figs.length));b.setAttribute('data-plots-rendered',String(ok));
b.setAttribute('data-errors',String(window.__prmkitErrors.length));b.setAttribute('data-report-ready','1');})();"""


def build_report(
    sections: list[Section],
    path: str | os.PathLike | None = None,
    title: str = "prmkit report",
    meta: dict[str, Any] | None = None,
) -> str:
    """Render sections into one self-contained HTML page (inline CSS, SVG and script; no URLs).

    Writes it to ``path`` when given; returns the HTML. ``meta`` (config, versions, seed, data
    hashes) is shown folded at the end.
    """
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_html.escape(title)}</title><style>{_CSS}</style><script>{_HEAD_JS}</script></head><body>",
        f"<h1>{_html.escape(title)}</h1>",
    ]
    for s in sections:
        parts.append(f"<section><h2>{_html.escape(s.title)}</h2>")
        md = s.markdown
        if md.lstrip().startswith("## "):  # the section title already says it
            md = md.lstrip().split("\n", 1)[1] if "\n" in md.lstrip() else ""
        parts.append(markdown_to_html(md))
        for f in s.figures:
            parts.append(
                f"<figure class='plot' data-plot='{_html.escape(f.name)}'>{f.svg}"
                f"<figcaption>{_html.escape(f.caption)}</figcaption></figure>"
            )
        if s.data is not None:
            parts.append(
                f"<details><summary>data</summary><pre>{_html.escape(json.dumps(s.data, indent=1))}</pre></details>"
            )
        parts.append("</section>")
    if meta:
        parts.append(
            "<details><summary>run metadata (config, versions, seed, data hashes)</summary>"
            f"<pre>{_html.escape(json.dumps(meta, indent=1, default=str))}</pre></details>"
        )
    parts.append(f"<script>{_TAIL_JS}</script></body></html>")
    page = "\n".join(parts)
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(page, encoding="utf-8")
    return page
