"""``prmkit world ...``: built-in worlds (arithmetic problems, benchmarks, pools; GSM8K perturbation).

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

_ARITH = "prmkit.worlds.arith_tasks"
_GSM8K = "prmkit.worlds.gsm8k_perturb"

#: (group, command, config class, writer function, noun, help)
WRITERS = (
    (arith_app, "problems", f"{_ARITH}:ArithProblemsConfig", f"{_ARITH}:run_arith_problems", "problems",
     "Write arithmetic word problems (with their specs) for labelling or search."),
    (arith_app, "bench", f"{_ARITH}:ArithBenchConfig", f"{_ARITH}:run_arith_bench", "records",
     "Write a ProcessBench-style benchmark with exact first-error labels."),
    (arith_app, "pool", f"{_ARITH}:ArithPoolConfig", f"{_ARITH}:run_arith_pool", "solutions",
     "Write a best-of-N pool: N sampled solutions per problem with exact correctness."),
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
