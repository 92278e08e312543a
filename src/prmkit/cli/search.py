"""``prmkit search`` (test-time search with a PRM) and ``prmkit search-report`` (thin wrappers over
:mod:`prmkit.search.run`). The summary goes to stdout as JSON, notes to stderr."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from prmkit.cli.app import app, command

if TYPE_CHECKING:
    from prmkit.search.run import SearchRunConfig

#: method-specific fields: a note is printed when one is given to a method that ignores it
_METHOD_SPECIFIC = ("n", "width", "lookahead", "tau", "mcts_iterations")


@dataclass
class SearchReportConfig:
    """``prmkit search-report`` options."""

    results: list[str] = field(
        default_factory=list,
        metadata={
            "help": "results JSONL files from `prmkit search` (NAME=PATH to label)",
            "positional": True,
        },
    )
    out: str = field(default="", metadata={"help": "HTML report path (required)"})


@command(app, "search", config="prmkit.search.run:SearchRunConfig")
def search_cmd(cfg: SearchRunConfig, given: frozenset[str]) -> None:
    """Test-time search: choose a solution per problem with a policy and a PRM."""
    from prmkit.search import METHOD_FIELDS
    from prmkit.search import run as search_run

    used = METHOD_FIELDS.get(cfg.method, ())
    for name in _METHOD_SPECIFIC:
        if name in given and name not in used:
            typer.echo(f"note: --{name.replace('_', '-')} is not used by method '{cfg.method}'", err=True)
    summary = search_run.run_search(cfg)
    typer.echo(json.dumps(summary, indent=1))
    typer.echo(f"results: {cfg.out}", err=True)


@command(app, "search-report", config="prmkit.cli.search:SearchReportConfig")
def search_report_cmd(cfg: SearchReportConfig) -> None:
    """Compare search runs: summary table and accuracy-vs-generated-tokens plot."""
    from prmkit.errors import PrmkitError
    from prmkit.search import run as search_run

    if not cfg.out:
        raise PrmkitError("give the HTML report path", field="out")
    runs = {}
    for item in cfg.results:
        name, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        runs[name or path] = search_run.read_results(path)
    search_run.write_report(runs, cfg.out)
    typer.echo(f"report: {cfg.out}", err=True)
