"""The one plotting module: matplotlib figures as deterministic inline SVG, placeholders without it."""

from __future__ import annotations

import builtins
import re

import pytest

from prmkit.evaluate import plots


def test_accuracy_vs_tokens_is_a_log_x_matplotlib_svg() -> None:
    fig = plots.plot_accuracy_vs_tokens({"beam": [(200, 0.8), (100, 0.5)], "bon": [(150, 0.6)]})
    assert fig.name == "search_accuracy_vs_tokens" and fig.caption == "accuracy vs mean generated tokens"
    assert fig.svg.startswith("<svg") and fig.svg.rstrip().endswith("</svg>")
    # text is kept as text (svg.fonttype none): legend entries and the log-axis label are searchable
    assert ">beam<" in fig.svg and ">bon<" in fig.svg
    assert "mean generated tokens per problem (log)" in fig.svg
    assert "Date" not in fig.svg  # no timestamp in the metadata


def test_same_input_gives_the_same_bytes_and_names_salt_the_ids() -> None:
    a = plots.plot_lines({"loss": [(1, 2.0), (2, 1.0)]}, "train_loss", "step", "loss")
    b = plots.plot_lines({"loss": [(1, 2.0), (2, 1.0)]}, "train_loss", "step", "loss")
    c = plots.plot_lines({"loss": [(1, 2.0), (2, 1.0)]}, "other", "step", "loss")
    assert a.svg == b.svg
    # ids that other elements point at (clip paths, markers) are salted by the figure name, so two
    # figures inlined in one page never resolve each other's references
    refs_a = set(re.findall(r"url\(#([^)]+)\)", a.svg)) | set(re.findall(r'href="#([^"]+)"', a.svg))
    refs_c = set(re.findall(r"url\(#([^)]+)\)", c.svg)) | set(re.findall(r'href="#([^"]+)"', c.svg))
    assert refs_a and not refs_a & refs_c


def test_histogram_counts_by_hand() -> None:
    assert plots.histogram_counts([0.0, 0.24, 0.25, 0.5, 0.99, 1.0, -3.0], 4, 0.0, 1.0) == [3, 1, 1, 2]
    assert plots.histogram_counts([5.0, 5.0], 3, 5.0, 5.0) == [2, 0, 0]


def test_without_matplotlib_every_plot_is_a_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    fig = plots.plot_accuracy_vs_tokens({"beam": [(100, 0.5)]})
    assert fig.caption == plots.NO_MATPLOTLIB and plots.NO_MATPLOTLIB in fig.svg
    assert fig.svg.startswith("<svg")
