"""File-level search runs (what ``prmkit search`` calls), summaries and the accuracy-vs-compute plot.

:func:`run_search` reads problems (JSONL: ``id``, ``problem``/``question``, ``reference_answer``),
builds the policy and the scorer, searches every problem and appends one
:class:`~prmkit.search.base.SearchResult` line per problem to ``out`` (flushed per problem;
``resume=True`` skips problems already in ``out``). Beside it, ``<out>.meta.json`` records the
config, versions and the summary. Optional outputs: the chosen solutions as canonical records
(``chosen_out``, for ``prmkit eval``/``score``) and an HTML report (``report``).

Example (not run here: it writes files)::

    from prmkit.search.run import SearchRunConfig, run_search
    cfg = SearchRunConfig(input="problems.jsonl", out="beam.jsonl", policy="arith",
                          scorer="arith-oracle", method="beam", n=16, width=4)
    summary = run_search(cfg)
    summary["accuracy"], summary["mean_generated_tokens"]
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prmkit.envs  # noqa: F401 - registers the 'env' policy (agent trajectories)
import prmkit.worlds  # noqa: F401 - registers the world's 'arith' policy (the default)
from prmkit.config import check_choice, check_min
from prmkit.errors import PrmkitError
from prmkit.evaluate.plots import plot_accuracy_vs_tokens
from prmkit.evaluate.report import Section, build_report
from prmkit.grading import is_correct
from prmkit.locks import RunLock
from prmkit.policies import load_policy
from prmkit.progress import track
from prmkit.records import (
    Problem,
    RecordWriter,
    check_input_file,
    iter_json_lines,
    read_problems,
    write_records,
    write_text_atomic,
)
from prmkit.runs import run_metadata
from prmkit.scorers import SCORERS, Scorer, load_scorer
from prmkit.search.config import SearchConfig
from prmkit.search.driver import search_iter
from prmkit.search.results import SearchResult, rechoose


@dataclass
class SearchRunConfig(SearchConfig):
    """A search run: the :class:`SearchConfig` fields plus inputs, outputs, policy and scorer."""

    input: str | None = field(default=None, metadata={"help": "problems JSONL", "flag": "--in"})
    out: str | None = field(default=None, metadata={"help": "results JSONL (one SearchResult per line)"})
    policy: str = field(default="arith", metadata={"help": "policy backend (arith, hf, openai, ...)"})
    policy_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "policy option KEY=VALUE (repeat)", "flag": "--policy-opt"}
    )
    prm: str | None = field(default=None, metadata={"help": "PRM checkpoint path"})
    format: str | None = field(default=None, metadata={"help": "scorer family for --prm (else prmkit.json)"})
    scorer: str | None = field(
        default=None, metadata={"help": "scorer by name (calculator, arith-oracle...)"}
    )
    scorer_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "scorer option KEY=VALUE (repeat)", "flag": "--scorer-opt"}
    )
    chosen_out: str | None = field(default=None, metadata={"help": "chosen solutions as canonical records"})
    report: str | None = field(default=None, metadata={"help": "HTML report path"})
    resume: bool = field(default=False, metadata={"help": "skip problems already in --out"})
    limit: int | None = field(default=None, metadata={"help": "first N problems only"})
    executor: str = field(
        default="local",
        metadata={
            "help": "local, or ray: shards of --shard-size problems as Ray tasks (OUT.shards/ + manifest; "
            "the same results as local)"
        },
    )
    shard_size: int = field(default=64, metadata={"help": "problems per shard (--executor ray)"})
    ray_address: str | None = field(
        default=None, metadata={"help": "Ray cluster to join (auto, HOST:6379); default: start one here"}
    )
    num_cpus: int | None = field(default=None, metadata={"help": "CPUs of a Ray cluster started here"})
    ray_num_gpus: float | None = field(
        default=None, metadata={"help": "GPUs each Ray search task holds (e.g. 1 for an hf/vllm policy)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_min(self, 1, "limit", "shard_size", "num_cpus")
        check_min(self, 0, "ray_num_gpus")
        check_choice(self, "executor", ("local", "ray"))

    def search_config(self) -> SearchConfig:
        names = [f.name for f in dataclasses.fields(SearchConfig)]
        return SearchConfig(**{k: getattr(self, k) for k in names}).validate()


def build_scorer(cfg: SearchRunConfig, problems: Sequence[Problem] | None = None) -> Scorer:
    """The scorer of a run: ``--prm PATH [--format F]`` or ``--scorer NAME``.

    A scorer built from the problems themselves (``arith-oracle``) gets them (or ``--in``).
    """
    if cfg.prm is None and cfg.scorer is None:
        raise PrmkitError("give a PRM (--prm PATH) or a scorer name (--scorer NAME)", field="scorer")
    if cfg.prm is not None and cfg.scorer is not None:
        raise PrmkitError("give either --prm or --scorer, not both", field="scorer")
    opts = dict(cfg.scorer_options)
    if cfg.prm is not None:
        return load_scorer(cfg.format, cfg.prm, **opts)
    cls = SCORERS.get(cfg.scorer)  # type: ignore[arg-type]
    init_params = inspect.signature(cls.__init__).parameters
    if "problems" in init_params and "problems_file" not in opts and "problems" not in opts:
        if problems is None:
            raise PrmkitError(f"scorer '{cfg.scorer}' needs the problems", field="scorer")
        return cls(problems, **opts)
    return load_scorer(cfg.scorer, None, **opts)


def _done_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    ids = set()
    for n, obj, _ in iter_json_lines(path):
        if not isinstance(obj, dict) or "id" not in obj:
            raise PrmkitError("not a search result line", file=str(path), line=n, field="id")
        ids.add(str(obj["id"]))
    return ids


def read_results(path: str | os.PathLike) -> list[SearchResult]:
    """Read a results JSONL written by :func:`run_search`."""
    return [SearchResult.from_dict(obj, file=str(path), line=n) for n, obj, _ in iter_json_lines(path)]


#: fields that do not change a run's results (left out of a sharded run's identity)
RUN_ONLY_FIELDS = (
    "out",
    "chosen_out",
    "report",
    "resume",
    "executor",
    "shard_size",
    "ray_address",
    "num_cpus",
    "ray_num_gpus",
    "batch_problems",
)

#: policies and scorers built by search_shard in this process, by spec (loaded once per worker)
_BACKENDS: dict[str, Any] = {}


def _cached(key: str, make: Any) -> Any:
    if key not in _BACKENDS:
        _BACKENDS[key] = make()
    return _BACKENDS[key]


def search_shard(spec: dict[str, Any], bid: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Search one shard of problem dicts (a batch task of :func:`prmkit.executors.run_sharded`);
    the problems are batched as in a local run. The policy (and a scorer that does not need the
    problems) is built once per process from ``spec["config"]`` and reused."""
    cfg = SearchRunConfig(**spec["config"])
    problems = [Problem.from_dict(d) for d in items]
    key = json.dumps(spec["config"], sort_keys=True, default=str)
    policy = _cached("policy:" + key, lambda: load_policy(cfg.policy, **cfg.policy_options))
    if _scorer_needs_problems(cfg):
        scorer = build_scorer(cfg, problems)
    else:
        scorer = _cached("scorer:" + key, lambda: build_scorer(cfg))
    scfg = cfg.search_config()
    lines = [json.dumps(r.to_dict(), ensure_ascii=False) for r in search_iter(problems, policy, scorer, scfg)]
    return {"batch": bid, "lines": lines}


def _scorer_needs_problems(cfg: SearchRunConfig) -> bool:
    if cfg.prm is not None or cfg.scorer is None:
        return False
    params = inspect.signature(SCORERS.get(cfg.scorer).__init__).parameters
    return "problems" in params and not ({"problems_file", "problems"} & set(cfg.scorer_options))


def _search_sharded(cfg: SearchRunConfig, problems: list[Problem], out: Path, quiet: bool | None) -> None:
    """``--executor ray``: shards of problems through :func:`prmkit.executors.run_sharded`."""
    from prmkit.executors import file_sha256, get_executor, run_sharded
    from prmkit.progress import Bar

    conf = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    identity = {k: v for k, v in conf.items() if k not in RUN_ONLY_FIELDS}
    identity["input_sha256"] = file_sha256(cfg.input)  # type: ignore[arg-type]
    opts = {"num_gpus": cfg.ray_num_gpus} if cfg.ray_num_gpus else None
    executor = get_executor(cfg.executor, address=cfg.ray_address, num_cpus=cfg.num_cpus, task_options=opts)
    with Bar(len(problems), f"search {cfg.method}", quiet=quiet) as bar:
        run_sharded(
            search_shard,
            {"config": conf},
            [p.to_dict() for p in problems],
            out=out,
            identity=identity,
            shard_size=cfg.shard_size,
            executor=executor,
            resume=cfg.resume,
            on_shard=bar.advance,
        )


def run_search(cfg: SearchRunConfig, *, quiet: bool | None = None) -> dict[str, Any]:
    """Search every problem of ``cfg.input``, writing results incrementally; returns the summary."""
    if not cfg.input or not cfg.out:
        raise PrmkitError(
            "need --in (problems JSONL) and --out (results JSONL)", field="input" if not cfg.input else "out"
        )
    scfg = cfg.search_config()
    check_input_file(cfg.input)  # exists, readable, non-empty, first record parses: before a model loads
    problems = list(read_problems(cfg.input))
    if not problems:
        raise PrmkitError("no problems", file=cfg.input)
    if cfg.limit is not None:
        problems = problems[: cfg.limit]
    out = Path(cfg.out)
    # one writer per output (``OUT.lock`` beside it), --resume included
    with RunLock(out, command="search", is_dir=False):
        return _run_search_locked(cfg, scfg, problems, out, quiet)


def _run_search_locked(
    cfg: SearchRunConfig, scfg: SearchConfig, problems: list[Problem], out: Path, quiet: bool | None
) -> dict[str, Any]:
    if cfg.executor != "local":
        _search_sharded(cfg, problems, out, quiet)
        return _finish(cfg, scfg, out)
    done = _done_ids(out) if cfg.resume else set()
    todo = [p for p in problems if p.id not in done]
    policy = load_policy(cfg.policy, **cfg.policy_options)
    scorer = build_scorer(cfg, problems)
    try:
        with RecordWriter(out, append=cfg.resume) as w:
            results_iter = search_iter(todo, policy, scorer, scfg)
            for r in track(results_iter, total=len(todo), description=f"search {scfg.method}", quiet=quiet):
                w.write(r.to_dict())
    finally:
        policy.close()
        scorer.close()
    return _finish(cfg, scfg, out)


def _finish(cfg: SearchRunConfig, scfg: SearchConfig, out: Path) -> dict[str, Any]:
    """Summary, chosen solutions, ``<out>.meta.json`` and the report, from the results file."""
    results = read_results(out)
    summary = summarize(results)
    if cfg.chosen_out:
        write_records(cfg.chosen_out, [r.chosen for r in results if r.chosen is not None])
    meta = run_metadata(cfg, seed=scfg.seed, summary=summary)
    write_text_atomic(str(out) + ".meta.json", json.dumps(meta, indent=1, default=str))
    if cfg.report:
        write_report({f"{scfg.method} (n={scfg.n}, width={scfg.width})": results}, cfg.report, meta=meta)
    return summary


# ---------------------------------------------------------------- summaries


def summarize(results: Sequence[SearchResult]) -> dict[str, Any]:
    """Accuracy and mean compute per problem over a list of results.

    ``accuracy`` counts problems with a reference answer (no chosen solution = wrong).
    """
    n = len(results)
    graded = [r for r in results if r.meta.get("correct") is not None]

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    return {
        "problems": n,
        "graded": len(graded),
        "accuracy": mean([1.0 if r.meta["correct"] else 0.0 for r in graded]) if graded else None,
        "no_choice": sum(1 for r in results if r.chosen is None),
        "chose_unfinished": sum(1 for r in results if r.meta.get("chose_unfinished")),
        "mean_generated_tokens": mean([r.compute.generated_tokens for r in results]),
        "mean_policy_calls": mean([r.compute.policy_calls for r in results]),
        "mean_scorer_calls": mean([r.compute.scorer_calls for r in results]),
        "mean_scored_steps": mean([r.compute.scored_steps for r in results]),
        "mean_env_steps": mean([r.compute.env_steps for r in results]),
        "mean_wall_time_s": mean([r.compute.wall_time_s for r in results]),
    }


def rule_accuracy(results: Sequence[SearchResult], agg: str, rule: str, **params: Any) -> float | None:
    """Accuracy when each result's candidates are re-chosen with another aggregation/answer rule."""
    graded = [r for r in results if r.meta.get("reference_answer") is not None]
    if not graded:
        return None
    ok = 0
    for r in graded:
        s = rechoose(r, agg, rule, **params)
        ok += bool(is_correct(None if s is None else s.answer, r.meta["reference_answer"]))
    return ok / len(graded)


# ---------------------------------------------------------------- plot and report


def write_report(
    runs: dict[str, Sequence[SearchResult]], path: str | os.PathLike, meta: dict[str, Any] | None = None
) -> str:
    """An HTML report (via :mod:`prmkit.evaluate.report`): summary table + accuracy-vs-tokens plot."""
    series: dict[str, list[tuple[float, float]]] = {}
    rows = [
        "| run | problems | accuracy | tokens/problem | policy calls | scorer calls | chose unfinished |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, res in runs.items():
        s = summarize(res)
        acc = s["accuracy"]
        rows.append(
            f"| {name} | {s['problems']} | {'-' if acc is None else f'{100 * acc:.1f}%'} | "
            f"{s['mean_generated_tokens']:.0f} | {s['mean_policy_calls']:.1f} | {s['mean_scorer_calls']:.1f} | "
            f"{s['chose_unfinished']} |"
        )
        if acc is not None:
            series[name] = [(s["mean_generated_tokens"], acc)]
    sec = Section(
        "Test-time search",
        markdown="\n".join(rows),
        figures=[plot_accuracy_vs_tokens(series)],
    )
    return build_report([sec], path, title="prmkit search", meta=meta)
