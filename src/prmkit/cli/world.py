"""``prmkit world ...``: built-in worlds (arithmetic problems, benchmarks, pools; the tool-use
world's tasks, benchmarks, pools and pairs; GSM8K perturbation).

Every command here writes a file with one library call and reports the count, so they are one
table: (group, name, config dataclass, library function, what is counted, help).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from prmkit.cli.app import app, command, group, resolve

world_app = group(app, "world", "Built-in worlds with exact step truth.")
arith_app = group(world_app, "arith", "The arithmetic world: problems, benchmarks, best-of-N pools.")
tools_app = group(world_app, "tools", "The tool-use world: shop tasks, agent trajectories, pairwise cases.")

_ARITH = "prmkit.worlds.arith_tasks"
_GSM8K = "prmkit.worlds.gsm8k_perturb"
_TOOLS = "prmkit.worlds.tools_tasks"

#: (group, command, config class, writer function, noun, help)
WRITERS = (
    (arith_app, "problems", f"{_ARITH}:ArithProblemsConfig", f"{_ARITH}:run_arith_problems", "problems",
     "Write arithmetic word problems (with their specs) for labelling or search."),
    (arith_app, "bench", f"{_ARITH}:ArithBenchConfig", f"{_ARITH}:run_arith_bench", "records",
     "Write a ProcessBench-style benchmark with exact first-error labels."),
    (arith_app, "pool", f"{_ARITH}:ArithPoolConfig", f"{_ARITH}:run_arith_pool", "solutions",
     "Write a best-of-N pool: N sampled solutions per problem with exact correctness."),
    (tools_app, "tasks", f"{_TOOLS}:ToolsTasksConfig", f"{_TOOLS}:run_tools_tasks", "tasks",
     "Write tool-use tasks (shop catalogue, question, tool schemas) for labelling or search."),
    (tools_app, "bench", f"{_TOOLS}:ToolsBenchConfig", f"{_TOOLS}:run_tools_bench", "records",
     "Write a ProcessBench-style benchmark of agent trajectories with exact first-error labels."),
    (tools_app, "pool", f"{_TOOLS}:ToolsPoolConfig", f"{_TOOLS}:run_tools_pool", "trajectories",
     "Write a best-of-N pool: N agent trajectories per task with exact correctness."),
    (tools_app, "pairs", f"{_TOOLS}:ToolsPairsConfig", f"{_TOOLS}:run_tools_pairs", "pairs",
     "Write ToolPRMBench-style pairwise cases: history, correct and incorrect next action."),
    (world_app, "gsm8k-perturb", f"{_GSM8K}:Gsm8kPerturbConfig", f"{_GSM8K}:run_gsm8k_perturb", "records",
     "Real GSM8K solutions with one injected calculation error in about half of them."),
)  # fmt: skip


def _writer(run: str, noun: str, doc: str) -> Callable[[Any], None]:
    def write(cfg: Any) -> None:
        k = resolve(run)(cfg)
        typer.echo(f"wrote {k} {noun} to {cfg.out}")

    write.__doc__ = doc
    return write


for _parent, _name, _config, _run, _noun, _doc in WRITERS:
    command(_parent, _name, config=_config)(_writer(_run, _noun, _doc))


@command(arith_app, "pretrain", config="prmkit.train.pretrain:PretrainConfig")
def pretrain_cmd(cfg: Any) -> None:
    """Pretrain the world's base LM (next-token loss on correct solutions); prints held-out result accuracy."""
    from prmkit.train.pretrain import pretrain

    pretrain(cfg, log=lambda s: typer.echo(s, err=True))
    typer.echo(f"model: {cfg.out}/model")


@command(tools_app, "pretrain", config="prmkit.train.pretrain_tools:ToolsPretrainConfig")
def tools_pretrain_cmd(cfg: Any) -> None:
    """Pretrain the tool world's base LM (next-token loss on correct trajectories); prints held-out
    accuracy of the agent's thoughts and actions."""
    from prmkit.train.pretrain import pretrain

    pretrain(cfg, log=lambda s: typer.echo(s, err=True))
    typer.echo(f"model: {cfg.out}/model")
