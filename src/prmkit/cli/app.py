"""The one Typer app. Subcommand modules (``prmkit.cli.*``) attach their commands to it.

Commands are thin: they parse flags into a config dataclass and call a library function.
Heavy imports (torch, transformers) happen inside command bodies so ``prmkit --help`` is fast.
"""

from __future__ import annotations

import typer

from prmkit import __version__
from prmkit.progress import set_quiet

app = typer.Typer(
    name="prmkit",
    help="prmkit: process reward models - data, labelling, training, scoring, evaluation, search, serving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prmkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    set_quiet(quiet)
