"""HTML report: self-contained, every plot present, renders in headless Chromium without errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from prmkit.evaluate.bon import PoolProblem, PoolSolution, evaluate_bon
from prmkit.evaluate.calibration import evaluate_calibration
from prmkit.evaluate.processbench import evaluate_processbench
from prmkit.evaluate.report import Section, build_report, markdown_to_html, sections_for
from prmkit.records import Solution

EXPECTED_PLOTS = {
    "bon_curves_random",
    "bon_curves_prefix",
    "bon_score_hist",
    "processbench_f1",
    "processbench_score_hist",
    "first_error_delta",
    "reliability",
}


def _labels(first_error: int, n: int) -> list[float | None]:
    """Step labels whose first error is ``first_error`` (-1: none)."""
    if first_error < 0:
        return [1.0] * n
    return [1.0] * first_error + [0.0] + [None] * (n - first_error - 1)


def _sections() -> list[Section]:
    pool = [
        PoolProblem(
            f"q{i}",
            "?",
            [PoolSolution([0.1 * j + 0.05 * i], "A" if j % 2 else "B", j % 2 == 1) for j in range(1, 5)],
        )
        for i in range(3)
    ]
    recs = [
        Solution(id=f"gsm8k-{i}", problem="p", steps=["a", "b"], scores=s, labels=_labels(y, 2))
        for i, (s, y) in enumerate([([0.9, 0.3], 1), ([0.8, 0.6], -1), ([0.2, 0.9], 0), ([0.7, 0.4], -1)])
    ]
    pb = evaluate_processbench({"gsm8k": recs}, n_grid=101)
    cal = evaluate_calibration([0.1, 0.4, 0.8, 0.9], [0, 1, 1, 1], 5)
    return (
        sections_for(evaluate_bon(pool, aggregations=["min", "mean"], seeds=2))
        + sections_for(pb)
        + sections_for(cal)
        + [Section("Extra", markdown="- a bullet with `code`")]
    )


@pytest.fixture(scope="module")
def sections() -> list[Section]:
    return _sections()  # matplotlib drawing is the slow part: draw once per module


def test_report_is_self_contained(sections: list[Section], tmp_path: Path) -> None:
    html = build_report(sections, tmp_path / "r.html", title="t", meta={"seed": 0})
    plots = set(re.findall(r"data-plot='([^']+)'", html))
    assert plots == EXPECTED_PLOTS
    assert html.count("<svg") >= len(EXPECTED_PLOTS)
    # no external resources: only XML namespace identifiers may contain a URL
    urls = set(re.findall(r"https?://[^\"' )>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert not re.search(r"(src|href)=['\"]https?:", html)
    assert "<code>code</code>" in html and "run metadata" in html


def test_markdown_subset() -> None:
    h = markdown_to_html("# T\n\ntext **b**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n- x\n- y").replace("\n", "")
    assert h.startswith("<h2>T</h2><p>text <strong>b</strong></p><table>")
    assert "<tbody><tr><td>1</td><td>2</td></tr></tbody>" in h
    assert h.endswith("<ul><li>x</li><li>y</li></ul>")


def test_text_is_escaped_and_data_is_folded() -> None:
    page = build_report(
        [Section("<b>s</b>", markdown="a <script>x()</script> b", data={"k": "<v>"})],
        title="<i>t</i>",
        meta={"seed": "<0>"},
    )
    assert "<i>t</i>" not in page and "&lt;i&gt;t&lt;/i&gt;" in page
    assert "<h2>&lt;b&gt;s&lt;/b&gt;</h2>" in page
    assert "<script>x()" not in page and "&lt;script&gt;x()" in page  # raw HTML in Markdown is text
    assert "<details><summary>data</summary><pre>{\n &#34;k&#34;: &#34;&lt;v&gt;&#34;\n}</pre>" in page
    assert "&#34;seed&#34;: &#34;&lt;0&gt;&#34;" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _dump_dom(path: Path) -> str:
    exe = _chromium()
    assert exe is not None
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--dump-dom",
                path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (Debian package 'chromium')")
def test_report_renders_in_headless_chromium(sections: list[Section], tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    build_report(sections, path, title="prmkit test report")
    body = re.search(r"<body[^>]*>", _dump_dom(path))
    assert body is not None
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(0)))
    assert attrs.get("data-report-ready") == "1"
    assert attrs["data-plots"] == str(len(EXPECTED_PLOTS))
    assert attrs["data-plots-rendered"] == str(len(EXPECTED_PLOTS))
    assert attrs["data-errors"] == "0"


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (Debian package 'chromium')")
def test_chromium_check_detects_script_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.html"
    html = build_report([Section("x", markdown="y")], title="t")
    path.write_text(html.replace("<h1>", "<script>undefinedFunction();</script><h1>", 1))
    body = re.search(r"<body[^>]*>", _dump_dom(path))
    assert body is not None and 'data-errors="1"' in body.group(0)
