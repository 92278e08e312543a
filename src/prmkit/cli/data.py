"""``prmkit convert`` and ``prmkit inspect``: thin wrappers over :mod:`prmkit.formats`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import typer

from prmkit.cli.app import app, command
from prmkit.formats import ConvertConfig, DataStats, InspectConfig


@dataclass
class InspectCommand(InspectConfig):
    """``prmkit inspect``: :class:`InspectConfig` plus how to print the statistics."""

    json: bool = field(default=False, metadata={"help": "print the statistics as JSON"})


@command(app, "convert", config="prmkit.formats:ConvertConfig")
def convert_cmd(cfg: ConvertConfig) -> None:
    """Convert a file between formats (see docs/formats.md)."""
    from prmkit import formats

    res = formats.convert(cfg)
    msg = f"read {res.read} records, wrote {res.written} rows to {cfg.output}"
    if res.rejected:
        msg += f"; skipped {res.rejected} invalid" + (
            f" (see {res.rejects_path})" if res.rejects_path else ""
        )
    typer.echo(msg)
    for e in res.errors[:5]:
        typer.echo(f"  skipped: {e}", err=True)


@command(app, "inspect", config="prmkit.cli.data:InspectCommand")
def inspect_cmd(cfg: InspectCommand) -> None:
    """Summarise a data file: records, steps per solution, labels, first-error histogram."""
    from prmkit import formats

    cfg.format = cfg.format or formats.detect_format(cfg.path)
    st = formats.inspect_file(cfg)
    if cfg.json:
        typer.echo(json.dumps(dataclasses.asdict(st)))
    else:
        print_stats(st, f"{cfg.path} ({cfg.format})")


def print_stats(st: DataStats, title: str) -> None:
    """The statistics of ``prmkit inspect`` as rich tables."""
    from rich.console import Console
    from rich.table import Table

    con = Console(width=100)
    t = Table(title=title, show_header=False)
    t.add_row("records", str(st.records))
    t.add_row("problems", str(st.problems))
    t.add_row(
        "steps per solution",
        f"min {st.steps_min}  median {st.steps_median:g}  mean {st.steps_mean:.2f}  max {st.steps_max}",
    )
    t.add_row("labelled", str(st.labelled))
    t.add_row("with an error", str(st.with_error))
    t.add_row("all steps correct", str(st.all_correct))
    t.add_row("scored", str(st.scored))
    if st.rejected:
        t.add_row("skipped invalid", str(st.rejected))
    con.print(t)
    for title_, head, counts, pct in (
        ("step labels", ("kind", "steps"), st.label_counts, True),
        ("first-error step (-1 = none)", ("step", "solutions"), st.first_error_hist, False),
    ):
        if not counts:
            continue
        tab = Table(title=title_)
        tab.add_column(head[0])
        tab.add_column(head[1], justify="right")
        total = sum(counts.values())
        for k, v in counts.items():
            tab.add_row(str(k), f"{v} ({100 * v / total:.1f}%)" if pct else str(v))
        con.print(tab)
