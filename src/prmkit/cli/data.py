"""``prmkit convert`` and ``prmkit inspect``: thin wrappers over :mod:`prmkit.formats`."""

from __future__ import annotations

import typer

from prmkit.cli.app import app


@app.command("convert")
def convert_cmd(
    input: str = typer.Argument(..., help="Input file."),
    output: str = typer.Argument(..., help="Output file (.jsonl, .json; .parquet for canonical)."),
    from_format: str | None = typer.Option(None, "--from", help="Input format (detected when omitted)."),
    to_format: str | None = typer.Option(None, "--to", help="Output format (default canonical)."),
    map: str | None = typer.Option(
        None, "--map", help="Field mapping for format 'map': problem=q,steps=s,..."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Step preset for string steps: '\\n\\n', '\\n', ..."
    ),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip (and count) invalid records."),
    rejects: str | None = typer.Option(None, "--rejects", help="Write skipped records to this JSONL file."),
    neutral: str | None = typer.Option(
        None, "--neutral", help="PRM800K rating 0: positive|negative|unknown."
    ),
    unknown: str | None = typer.Option(
        None, "--unknown", help="Unknown labels for trl/math-shepherd: error|truncate."
    ),
    original: bool | None = typer.Option(
        None, "--original/--no-original", help="PRMBench: also the original."
    ),
    config: str | None = typer.Option(None, "--config", help="YAML recipe with these options."),
) -> None:
    """Convert a file between formats (see docs/formats.md)."""
    from prmkit.config import build_config
    from prmkit.formats import ConvertConfig, convert
    from prmkit.progress import is_quiet

    flags = dict(
        input=input,
        output=output,
        from_format=from_format,
        to_format=to_format,
        map=map,
        split=split,
        skip_invalid=skip_invalid or None,
        rejects=rejects,
        neutral=neutral,
        unknown=unknown,
        original=original,
        quiet=is_quiet() or None,
    )
    cfg = build_config(ConvertConfig, config, flags)
    res = convert(cfg)
    msg = f"read {res.read} records, wrote {res.written} rows to {cfg.output}"
    if res.rejected:
        msg += f"; skipped {res.rejected} invalid" + (
            f" (see {res.rejects_path})" if res.rejects_path else ""
        )
    typer.echo(msg)
    for e in res.errors[:5]:
        typer.echo(f"  skipped: {e}", err=True)


@app.command("inspect")
def inspect_cmd(
    path: str = typer.Argument(..., help="File to inspect."),
    format: str | None = typer.Option(None, "--format", "-f", help="Its format (detected when omitted)."),
    map: str | None = typer.Option(None, "--map", help="Field mapping for format 'map'."),
    split: str | None = typer.Option(None, "--split", help="Step preset for string steps."),
    neutral: str | None = typer.Option(None, "--neutral", help="PRM800K rating 0 policy."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip (and count) invalid records."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
) -> None:
    """Summarise a data file: records, steps per solution, labels, first-error histogram."""
    import dataclasses
    import json

    from rich.console import Console
    from rich.table import Table

    from prmkit.formats import InspectConfig, detect_format, inspect_file
    from prmkit.progress import is_quiet

    fmt = format or detect_format(path)
    cfg = InspectConfig(
        path=path,
        format=fmt,
        map=map,
        split=split,
        neutral=neutral,
        skip_invalid=skip_invalid,
        quiet=is_quiet(),
    )
    st = inspect_file(cfg)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(st)))
        return
    con = Console(width=100)
    t = Table(title=f"{path} ({fmt})", show_header=False)
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
    if st.label_counts:
        lt = Table(title="step labels")
        lt.add_column("kind")
        lt.add_column("steps", justify="right")
        total = sum(st.label_counts.values())
        for k, v in st.label_counts.items():
            lt.add_row(k, f"{v} ({100 * v / total:.1f}%)")
        con.print(lt)
    if st.first_error_hist:
        ht = Table(title="first-error step (-1 = none)")
        ht.add_column("step")
        ht.add_column("solutions", justify="right")
        for k, v in st.first_error_hist.items():
            ht.add_row(str(k), str(v))
        con.print(ht)
