"""Config dataclasses and file-writing entry points behind ``prmkit world tools ...`` commands.

Example:
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "bench.jsonl")
    >>> run_tools_bench(ToolsBenchConfig(n=4, seed=0, out=out))
    4
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from prmkit.config import check_choice, check_min, check_range, help_field
from prmkit.errors import PrmkitError
from prmkit.records import write_problems, write_records, write_text_atomic

_FORMATS = ("canonical", "processbench")


@dataclass
class ToolsTaskOptions:
    """Options shared by every tool-world command."""

    seed: int = help_field("random seed (same seed -> same output)", 0)
    templates: list[str] | None = help_field(
        "question templates to draw from (default all): price, stock, cost, discount, sum, stock_diff, cheaper"
    )

    def __post_init__(self) -> None:
        def own(*names: str) -> list[str]:  # the subclasses add some of these fields
            return [n for n in names if hasattr(self, n)]

        check_min(self, 1, *own("n", "n_problems"))
        check_range(self, 0.0, 1.0, *own("wrong_fraction", "error_rate"))
        if hasattr(self, "format"):
            check_choice(self, "format", _FORMATS)
        if self.templates:
            from prmkit.worlds.tools import TEMPLATES

            for t in self.templates:
                if t not in TEMPLATES:
                    raise PrmkitError(
                        f"unknown template {t!r}; known: {', '.join(TEMPLATES)}", field="templates"
                    )

    def task_kwargs(self) -> dict[str, Any]:
        return {"templates": list(self.templates) if self.templates else None}


@dataclass
class ToolsTasksConfig(ToolsTaskOptions):
    n: int = help_field("number of tasks", 100)
    out: str = help_field(
        "output tasks JSONL (problems with their specs and tool schemas)", "tools_tasks.jsonl"
    )


@dataclass
class ToolsBenchConfig(ToolsTaskOptions):
    n: int = help_field("number of records (one trajectory per task)", 1000)
    out: str = help_field("output file", "tools_bench.jsonl")
    format: str = help_field("canonical | processbench", "canonical")
    wrong_fraction: float = help_field("fraction of records with an error", 0.5)
    error_rate: float = help_field("agent per-turn error probability", 0.18)


@dataclass
class ToolsPoolConfig(ToolsTaskOptions):
    n_problems: int = help_field("number of tasks", 100)
    n: int = help_field("trajectories per task", 8)
    out: str = help_field("output records JSONL", "tools_pool.jsonl")
    error_rate: float = help_field("agent per-turn error probability", 0.18)


@dataclass
class ToolsPairsConfig(ToolsTaskOptions):
    n: int = help_field("number of pairwise cases (one per task)", 1000)
    out: str = help_field("output pairs JSONL", "tools_pairs.jsonl")


def run_tools_tasks(cfg: ToolsTasksConfig) -> int:
    """Write ``cfg.n`` tasks to ``cfg.out``; returns the count."""
    from prmkit.worlds.tools import generate_tasks

    return write_problems(cfg.out, generate_tasks(cfg.n, cfg.seed, **cfg.task_kwargs()))


def run_tools_bench(cfg: ToolsBenchConfig) -> int:
    """Write a ProcessBench-style benchmark of agent trajectories (canonical or ProcessBench)."""
    from prmkit.worlds.arith_tasks import write_processbench
    from prmkit.worlds.tools_agent import make_bench

    recs = make_bench(
        cfg.n, cfg.seed, wrong_fraction=cfg.wrong_fraction, error_rate=cfg.error_rate, **cfg.task_kwargs()
    )
    if cfg.format == "canonical":
        return write_records(cfg.out, recs)
    return write_processbench(cfg.out, recs)


def run_tools_pool(cfg: ToolsPoolConfig) -> int:
    """Write ``cfg.n`` agent trajectories for each of ``cfg.n_problems`` tasks."""
    from prmkit.worlds.tools import generate_tasks
    from prmkit.worlds.tools_agent import NoisyToolsAgent, make_pool

    tasks = generate_tasks(cfg.n_problems, cfg.seed, **cfg.task_kwargs())
    return write_records(
        cfg.out, make_pool(tasks, cfg.n, NoisyToolsAgent(error_rate=cfg.error_rate), seed=cfg.seed)
    )


def run_tools_pairs(cfg: ToolsPairsConfig) -> int:
    """Write ``cfg.n`` ToolPRMBench-style pairwise cases (schema: :func:`~prmkit.worlds.tools_agent.make_pairs`)."""
    from prmkit.worlds.tools_agent import make_pairs

    rows = make_pairs(cfg.n, cfg.seed, **cfg.task_kwargs())
    write_text_atomic(cfg.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)
