"""The command tree (Typer) and :func:`command`, which turns a config dataclass into a command.

Typer only routes ``prmkit <group> <command>`` and owns the global ``--version`` / ``--quiet``.
Each command's options come from its config dataclass through
:class:`prmkit.cli.parser.ConfigParser` (an ``HfArgumentParser``), so an option is declared once:
as a dataclass field with its type, default and ``metadata["help"]``.

Adding a command is one decorated function (the config class is named by import path, so
``prmkit --help`` imports nothing heavy)::

    @command(world_arith_app, "pretrain", config="prmkit.train.pretrain:PretrainConfig")
    def pretrain_cmd(cfg: PretrainConfig) -> None:
        \"\"\"Pretrain the tiny model on arithmetic text.\"\"\"
        from prmkit.train.pretrain import pretrain
        typer.echo(pretrain(cfg))
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from prmkit import __version__
from prmkit.errors import PrmkitError
from prmkit.progress import is_quiet, set_quiet

F = TypeVar("F", bound=Callable[..., Any])

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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    set_quiet(quiet)


def group(parent: typer.Typer, name: str, help: str) -> typer.Typer:
    """A subcommand group (``prmkit eval ...``) attached to ``parent``."""
    sub = typer.Typer(help=help, no_args_is_help=True)
    parent.add_typer(sub, name=name)
    return sub


def resolve(path: str) -> Any:
    """``"package.module:Name"`` -> the object (imported on use).

    Example:
        >>> resolve("prmkit.serve.config:ServeConfig").__name__
        'ServeConfig'
    """
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def command(
    parent: typer.Typer,
    name: str,
    *,
    config: str,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Register ``fn(cfg)`` as ``prmkit ... NAME`` with the flags of the dataclass ``config``.

    ``fn``'s docstring is the command's help. A second parameter, if ``fn`` has one, receives the
    set of fields given explicitly as flags. ``overrides`` adds flag metadata to fields of a class
    declared outside the CLI's reach (see :class:`prmkit.cli.parser.ConfigParser`).
    """

    def decorate(fn: F) -> F:
        doc = inspect.getdoc(fn) or ""
        wants_given = len(inspect.signature(fn).parameters) > 1

        @parent.command(
            name,
            help=doc,
            short_help=doc.split("\n\n")[0].replace("\n", " "),
            add_help_option=False,
            context_settings={
                "ignore_unknown_options": True,
                "allow_extra_args": True,
                "help_option_names": [],
            },
        )
        def _run(ctx: typer.Context) -> None:
            from prmkit.cli.parser import ConfigParser  # imports transformers: not for `prmkit --help`

            parser = ConfigParser(
                resolve(config), overrides=overrides, prog=ctx.command_path, description=doc
            )
            fixed = {"quiet": True} if "quiet" in parser.field_names and is_quiet() else {}
            cfg, given = parser.parse_config(ctx.args, **fixed)
            try:
                if wants_given:
                    fn(cfg, given)
                else:
                    fn(cfg)
            except PrmkitError as e:
                raise parser.flag_error(e) from None

        return fn

    return decorate
