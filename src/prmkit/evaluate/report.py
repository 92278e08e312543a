"""Self-contained HTML reports: sections of Markdown text plus inline SVG plots, no external URLs.

Any stage can build a report from several result sections::

    from prmkit.evaluate.report import Section, build_report, sections_for
    sections = sections_for(bon_result) + [Section("Search", markdown="| a | b |\\n|---|---|\\n| 1 | 2 |")]
    build_report(sections, "runs/report.html", title="My run", meta={"seed": 0})

:func:`sections_for` turns a result dict of any evaluator (``benchmark`` = ``processbench``,
``prmbench``, ``bon``, ``calibration``) into sections with the standard plots
(:mod:`prmkit.evaluate.plots`, matplotlib as inline SVG). The page is the Jinja2 template
``templates/report.html.j2`` (autoescaped); section text is Markdown rendered by markdown-it-py
(CommonMark plus tables, raw HTML disabled).

The page carries a tiny inline script that counts the plots and records window errors in
``<body data-plots=... data-plots-rendered=... data-errors=...>`` (used by the headless-browser
test; harmless to readers).

Example:
    >>> html = build_report([Section("Hello", markdown="Some **bold** text.")], title="t")
    >>> "<strong>bold</strong>" in html and "http" not in html.split("<body", 1)[1]
    True
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2
from markdown_it import MarkdownIt

from prmkit.errors import PrmkitError
from prmkit.evaluate.plots import (
    Figure,
    histogram_counts,
    plot_bon_curves,
    plot_f1_per_subset,
    plot_first_error_delta,
    plot_reliability,
    plot_score_hist,
)

__all__ = ["Figure", "Section", "build_report", "markdown_to_html", "sections_for"]


@dataclass
class Section:
    """A report section: a title, Markdown text, plots, and optional raw data (shown folded)."""

    title: str
    markdown: str = ""
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, Any] | None = None


# ---------------------------------------------------------------- markdown


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_html(md: str) -> str:
    """Markdown (CommonMark + tables; raw HTML is escaped) to HTML; headings move one level down
    (``#`` -> ``<h2>``) because the page and its sections own ``<h1>`` and ``<h2>``.

    Example:
        >>> markdown_to_html("# T\\n\\n| a | b |\\n|---|---|\\n| 1 | <x> |").replace("\\n", "")
        '<h2>T</h2><table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>&lt;x&gt;</td></tr></tbody></table>'
    """
    html = _markdown().render(md)
    return re.sub(r"<(/?)h([1-6])>", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 1, 6)}>", html)


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
                    histogram_counts(ss["correct"], 20, lo, hi),
                    histogram_counts(ss["wrong"], 20, lo, hi),
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
    if kind == "pairwise":
        from prmkit.evaluate.pairwise import pairwise_markdown

        return [Section("Pairwise accuracy (tool calls)", pairwise_markdown(result))]
    raise PrmkitError(f"no report sections for result kind {kind!r}")


# ---------------------------------------------------------------- page


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("prmkit.evaluate", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")


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
    view = []
    for s in sections:
        md = s.markdown.lstrip()
        if md.startswith("## "):  # the section title already says it
            md = md.split("\n", 1)[1] if "\n" in md else ""
        view.append(
            {
                "title": s.title,
                "html": markdown_to_html(md),
                "figures": [{"name": f.name, "svg": f.svg, "caption": f.caption} for f in s.figures],
                "data": None if s.data is None else json.dumps(s.data, indent=1),
            }
        )
    page = _template().render(
        title=title,
        sections=view,
        meta=json.dumps(meta, indent=1, default=str) if meta else None,
    )
    if path is not None:
        from prmkit.records import write_text_atomic

        write_text_atomic(path, page)  # all-or-nothing: never a half-written report
    return page
