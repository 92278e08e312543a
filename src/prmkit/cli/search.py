"""``prmkit search`` (test-time search with a PRM) and ``prmkit search-report`` (thin wrappers over
:mod:`prmkit.search.run`). The summary goes to stdout as JSON, notes to stderr."""

from __future__ import annotations

import json

import typer

from prmkit.cli.app import app

_METHODS = "best-of-n|beam|dvts|greedy|mcts|early-rejection|pats"


@app.command("search")
def search_cmd(
    input: str = typer.Option(None, "--in", help="Problems JSONL (id, problem, reference_answer)."),
    out: str = typer.Option(None, "--out", help="Results JSONL (one search result per problem)."),
    policy: str = typer.Option(None, "--policy", help="Policy backend: arith | hf | openai | vllm."),
    policy_opt: list[str] = typer.Option(None, "--policy-opt", help="Policy option KEY=VALUE (repeat)."),
    prm: str = typer.Option(None, "--prm", help="PRM checkpoint path."),
    format: str = typer.Option(None, "--format", help="Scorer family for --prm (default: PATH/prmkit.json)."),
    scorer: str = typer.Option(None, "--scorer", help="Scorer by name (calculator, arith-oracle, ...)."),
    scorer_opt: list[str] = typer.Option(None, "--scorer-opt", help="Scorer option KEY=VALUE (repeat)."),
    method: str = typer.Option(None, "--method", help=f"Search method: {_METHODS}."),
    n: int = typer.Option(
        None,
        "--n",
        help="Samples / beams (best-of-n, beam, dvts, early-rejection); candidates per step (greedy).",
    ),
    width: int = typer.Option(
        None, "--width", help="Beam width M (beam, dvts, early-rejection); branching (mcts)."
    ),
    agg: str = typer.Option(
        None, "--agg", help="Step aggregation: min | prod | last | mean | geometric | ..."
    ),
    answer_rule: str = typer.Option(
        None, "--answer-rule", help="best_of_n | majority | weighted_vote | hmrv | wrfv."
    ),
    max_steps: int = typer.Option(None, "--max-steps", help="Step budget per candidate."),
    max_tokens: int = typer.Option(None, "--max-tokens", help="Generated-token budget per candidate."),
    max_total_tokens: int = typer.Option(
        None, "--max-total-tokens", help="Generated-token budget per problem."
    ),
    lookahead: int = typer.Option(None, "--lookahead", help="Beam lookahead steps."),
    tau: int = typer.Option(None, "--tau", help="Early rejection: tokens of a partial step."),
    mcts_iterations: int = typer.Option(None, "--mcts-iterations", help="MCTS iterations."),
    seed: int = typer.Option(None, "--seed"),
    limit: int = typer.Option(None, "--limit", help="First N problems only."),
    chosen_out: str = typer.Option(
        None, "--chosen-out", help="Also write the chosen solutions (canonical JSONL)."
    ),
    report: str = typer.Option(None, "--report", help="Also write an HTML report."),
    resume: bool = typer.Option(None, "--resume/--no-resume", help="Skip problems already in --out."),
    config: str = typer.Option(None, "--config", help="YAML recipe; flags override it."),
) -> None:
    """Test-time search: choose a solution per problem with a policy and a PRM."""
    from prmkit.config import build_config
    from prmkit.search.base import METHOD_FIELDS
    from prmkit.search.run import SearchRunConfig, parse_options, run_search

    flags = dict(
        input=input,
        out=out,
        policy=policy,
        prm=prm,
        format=format,
        scorer=scorer,
        method=method,
        n=n,
        width=width,
        agg=agg,
        answer_rule=answer_rule,
        max_steps=max_steps,
        max_tokens=max_tokens,
        max_total_tokens=max_total_tokens,
        lookahead=lookahead,
        tau=tau,
        mcts_iterations=mcts_iterations,
        seed=seed,
        limit=limit,
        chosen_out=chosen_out,
        report=report,
        resume=resume,
        policy_options=parse_options(policy_opt) or None,
        scorer_options=parse_options(scorer_opt, "--scorer-opt") or None,
    )
    cfg = build_config(SearchRunConfig, config, flags)
    used = METHOD_FIELDS.get(cfg.method, ())
    for name in ("n", "width", "lookahead", "tau", "mcts_iterations"):
        if flags.get(name) is not None and name not in used:
            typer.echo(f"note: --{name.replace('_', '-')} is not used by method '{cfg.method}'", err=True)
    summary = run_search(cfg)
    typer.echo(json.dumps(summary, indent=1))
    typer.echo(f"results: {cfg.out}", err=True)


@app.command("search-report")
def search_report_cmd(
    results: list[str] = typer.Argument(
        ..., help="Results JSONL files from `prmkit search` (NAME=PATH to label)."
    ),
    out: str = typer.Option(..., "--out", help="HTML report path."),
) -> None:
    """Compare search runs: summary table and accuracy-vs-generated-tokens plot."""
    from prmkit.search.run import read_results, write_report

    runs = {}
    for item in results:
        name, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        runs[name or path] = read_results(path)
    write_report(runs, out)
    typer.echo(f"report: {out}", err=True)
