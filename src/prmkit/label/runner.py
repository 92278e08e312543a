"""Resumable, distributed labelling runs: ``run_labelling(config)`` and ``read_labelled(dir)``.

Layout of an output directory::

    DIR/manifest.json                 config, seed, versions, input hash, completed batch ids
    DIR/shards/shard-00000.jsonl      labelled canonical records of batch 0 (input order)
    DIR/shards/shard-00000.meta.json  that batch's cost (rollouts, tokens, wall time), skips
    DIR/summary.json                  totals, written when the run ends

Batch ``b`` holds input records ``[b * batch_size, (b + 1) * batch_size)``. Each batch is written
once, atomically (temp file, fsync, rename; the ``.meta.json`` first, the shard last), so a batch
is complete iff its shard exists. ``resume=True`` skips completed batches; a run killed at any
point (even by SIGKILL) and resumed ends with exactly the records of an uninterrupted run,
because every record's labels depend only on (seed, record id, step, rollout index).

Example:
    cfg = LabelConfig(input="solutions.jsonl", out="runs/label", policy="arith", method="mc", n=8)
    summary = run_labelling(cfg)
    records = read_labelled("runs/label")
"""

from __future__ import annotations

import glob
import importlib
import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prmkit.envs  # noqa: F401 - registers the 'env' policy (agent trajectories)
import prmkit.worlds  # noqa: F401 - registers the world's 'arith' policy (the default)
from prmkit.config import check_choice, check_min, check_positive, check_range
from prmkit.errors import PrmkitError
from prmkit.label.base import (
    LABELLERS,
    Grader,
    LabelContext,
    Labeller,
    LabelOutcome,
    make_labeller,
    solution_answer_correct,
)
from prmkit.locks import RunLock
from prmkit.records import (
    META_LABELLING,
    META_PROBLEM_ID,
    Problem,
    Solution,
    check_input_file,
    first_error_of,
    iter_json_lines,
    write_text_atomic,
)
from prmkit.runs import derive_seed, sha256_file, versions
from prmkit.trajectory import Turn, steps_from_turns, turns_from_json

MANIFEST = "manifest.json"
SUMMARY = "summary.json"
SHARDS = "shards"
FORMAT = "prmkit-label/1"
#: what ``None`` means for the optional counts of :class:`LabelConfig`
DEFAULT_SAMPLES_PER_PROBLEM = 4
DEFAULT_SCAN_SAMPLES = 32
DEFAULT_SCAN_MIN_CONFIDENCE = 0.75


@dataclass
class LabelConfig:
    """Options of ``prmkit label`` (and of :func:`run_labelling`)."""

    input: str = field(
        default="", metadata={"help": "Canonical solutions or problems (JSONL).", "flag": "--in"}
    )
    out: str = field(default="", metadata={"help": "Output directory (shards + manifest)."})
    policy: str = field(
        default="arith", metadata={"help": "Policy: arith, hf, openai, vllm, or module:Class."}
    )
    policy_opts: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Policy option KEY=VALUE (repeat).", "flag": "--policy-opt"}
    )
    method: str = field(
        default="mc", metadata={"help": "Labeller: mc, binary, adaptive, judge, consensus, q-target."}
    )
    label_opts: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Labeller option KEY=VALUE (repeat).", "flag": "--label-opt"}
    )
    n: int | None = field(default=None, metadata={"help": "Rollouts per estimate (default: the labeller's)."})
    seed: int = field(default=0, metadata={"help": "Run seed."})
    resume: bool = field(default=False, metadata={"help": "Skip batches already written."})
    executor: str = field(default="local", metadata={"help": "local or ray."})
    batch_size: int = field(default=16, metadata={"help": "Input records per batch (one shard each)."})
    input_kind: str = field(default="auto", metadata={"help": "auto, solutions or problems."})
    samples_per_problem: int | None = field(
        default=None,
        metadata={"help": f"Problem input: solutions sampled per problem ({DEFAULT_SAMPLES_PER_PROBLEM})."},
    )
    max_steps: int | None = field(default=None, metadata={"help": "Cap on steps per rollout."})
    scan: bool = field(default=False, metadata={"help": "SCAN denoising (C4)."})
    scan_min_confidence: float | None = field(
        default=None, metadata={"help": f"SCAN self-confidence filter ({DEFAULT_SCAN_MIN_CONFIDENCE})."}
    )
    scan_samples: int | None = field(
        default=None,
        metadata={
            "help": f"Samples for self-confidence (problems: reuse them; solutions: {DEFAULT_SCAN_SAMPLES})."
        },
    )
    scan_tolerance: bool | None = field(default=None, metadata={"help": "SCAN soft labels (True)."})
    select: str = field(
        default="all",
        metadata={"help": "Which input solutions to label: all, or uncertain (ActPRM, docs/labelling.md): "
                  "only the ones the --select-model PRM(s) are least sure about, within --select-budget."},
    )  # fmt: skip
    select_scorer: str | None = field(
        default=None,
        metadata={"help": "--select uncertain: scorer family of the selecting PRM(s) (default: read from "
                  "their prmkit.json; 'calculator' needs no model)."},
    )  # fmt: skip
    select_model: list[str] = field(
        default_factory=list,
        metadata={"help": "--select uncertain: PRM checkpoint(s) scoring the pool; several = an ensemble "
                  "(their disagreement counts)."},
    )  # fmt: skip
    select_budget: float | None = field(
        default=None,
        metadata={"help": "--select uncertain: at most this many solutions (> 1) or this fraction of the "
                  "pool (<= 1) are labelled (default: every uncertain one)."},
    )  # fmt: skip
    select_pred_threshold: float = field(
        default=0.9,
        metadata={"help": "--select uncertain: a step is sure when its mean score is >= this or <= 1 - this"},
    )
    select_std_threshold: float = field(
        default=0.01,
        metadata={"help": "--select uncertain: ... and the ensemble's standard deviation <= this."},
    )
    ray_address: str | None = field(default=None, metadata={"help": "Ray cluster address."})
    num_cpus: int | None = field(default=None, metadata={"help": "CPUs of a locally started Ray."})
    quiet: bool | None = field(default=None, metadata={"help": "No progress bar."})

    def __post_init__(self) -> None:
        check_min(self, 1, "n", "batch_size", "samples_per_problem", "max_steps", "scan_samples", "num_cpus")
        check_choice(self, "select", ("all", "uncertain"))
        check_positive(self, "select_budget")
        check_range(self, 0.5, 1.0, "select_pred_threshold")
        check_min(self, 0.0, "select_std_threshold")
        if self.select == "all":
            for f in ("select_scorer", "select_budget"):
                if getattr(self, f) is not None:
                    raise PrmkitError(f"'{f}' needs select=uncertain (it would be ignored)", field=f)
            if self.select_model:
                raise PrmkitError(
                    "'select_model' needs select=uncertain (it would be ignored)", field="select_model"
                )
        check_range(self, 0.0, 1.0, "scan_min_confidence")
        check_choice(self, "executor", ("local", "ray"))
        check_choice(self, "input_kind", ("auto", "solutions", "problems"))
        if not self.scan:
            for f in ("scan_min_confidence", "scan_samples", "scan_tolerance"):
                if getattr(self, f) is not None:
                    raise PrmkitError(f"'{f}' needs scan=true (it would be ignored)", field=f)
        if not isinstance(self.policy_opts, dict) or not isinstance(self.label_opts, dict):
            raise PrmkitError("policy_opts and label_opts must be mappings", field="policy_opts")


#: fields that change results; a resumed run must use the same values
IDENTITY_FIELDS = (
    "policy",
    "policy_opts",
    "method",
    "label_opts",
    "n",
    "seed",
    "batch_size",
    "input_kind",
    "samples_per_problem",
    "max_steps",
    "scan",
    "scan_min_confidence",
    "scan_samples",
    "scan_tolerance",
)

# objects handed to run_labelling directly (local executor only), by key
_RUNTIME: dict[str, dict[str, Any]] = {}
# per-process caches of built policies / labellers / self-confidence values
_CACHE: dict[str, Any] = {}


# ---------------------------------------------------------------- building blocks


def build_policy(name: str, options: dict[str, Any] | None = None) -> Any:
    """A policy from a registered name (``arith``, ``hf``, ``openai``) or ``package.module:Class``.

    Example:
        build_policy("arith", {"error_rate": 0.2})
    """
    options = dict(options or {})
    if ":" in name:
        mod, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise PrmkitError(f"cannot import policy '{name}': {e}", field="policy") from None
        return cls(**options)
    from prmkit.policies.base import load_policy

    try:
        return load_policy(name, **options)
    except TypeError as e:
        raise PrmkitError(f"bad options for policy '{name}': {e}", field="policy_opts") from None


def labeller_from_config(method: str, n: int | None, label_opts: dict[str, Any]) -> Labeller:
    """The labeller of a run: ``n`` goes to labellers that take it unless ``label_opts`` sets it."""
    # the built-in labellers are registered: importing this module ran prmkit/label/__init__.py
    opts = dict(label_opts)
    cls = LABELLERS.get(method)
    if n is not None:
        if "n" in inspect.signature(cls.__init__).parameters:
            opts.setdefault("n", n)
        else:
            raise PrmkitError(f"labeller '{method}' draws no rollouts; --n does not apply", field="n")
    return make_labeller(method, **opts)


def problem_from_solution(sol: Solution) -> Problem:
    """The problem a solution record answers (its meta carries the problem's meta, e.g. ``arith``)."""
    meta = sol.meta.get("problem_meta")
    return Problem(
        id=sol.problem_id,
        question=sol.problem,
        reference_answer=sol.reference_answer,
        meta=dict(meta) if isinstance(meta, dict) else dict(sol.meta),
    )


def _identity(cfg: LabelConfig) -> dict[str, Any]:
    d = {k: getattr(cfg, k) for k in IDENTITY_FIELDS}
    return json.loads(json.dumps(d, sort_keys=True, default=str))


def _shard_path(out: Path, bid: int) -> Path:
    return out / SHARDS / f"shard-{bid:05d}.jsonl"


def _shard_meta_path(out: Path, bid: int) -> Path:
    return out / SHARDS / f"shard-{bid:05d}.meta.json"


# ---------------------------------------------------------------- input


def _read_input(cfg: LabelConfig, needs_reference: bool) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    path = cfg.input
    items: list[tuple[int, dict[str, Any]]] = []
    kind = cfg.input_kind
    if kind not in ("auto", "solutions", "problems"):
        raise PrmkitError(f"input_kind must be auto, solutions or problems, got {kind!r}", field="input_kind")
    seen: dict[str, int] = {}
    for line, obj, _raw in iter_json_lines(path):
        if not isinstance(obj, dict):
            raise PrmkitError(f"expected a JSON object, got {type(obj).__name__}", file=path, line=line)
        if kind == "auto":
            kind = "solutions" if "steps" in obj else "problems"
        if kind == "solutions":
            rec: Any = Solution.from_dict(obj, file=path, line=line)
        else:
            if "steps" in obj:
                raise PrmkitError(
                    "a solution record in a problems input (set input_kind=solutions?)",
                    file=path,
                    line=line,
                    field="steps",
                )
            rec = Problem.from_dict(obj, file=path, line=line)
        if needs_reference and not rec.reference_answer:
            raise PrmkitError(
                "missing; rollouts are graded against the reference answer",
                file=path,
                line=line,
                field="reference_answer",
            )
        if rec.id in seen:
            raise PrmkitError(
                f"duplicate id {rec.id!r} (first on line {seen[rec.id]})", file=path, line=line, field="id"
            )
        seen[rec.id] = line
        items.append((line, obj))
    if not items:
        raise PrmkitError("no records", file=path)
    return kind, items


# ---------------------------------------------------------------- one batch (runs anywhere)


def _cached(key: str, make: Any) -> Any:
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def _self_confidence(
    spec: dict[str, Any], policy: Any, grader: Grader, problem: Problem, n: int
) -> dict[str, Any]:
    key = json.dumps(["sc", spec["identity"], problem.id, n])

    def make() -> dict[str, Any]:
        gens = policy.sample(
            [problem], n, seed=derive_seed(spec["identity"]["seed"], "self-confidence", problem.id)
        )[0]
        ok = sum(
            bool(g.finished)
            and grader.is_correct(grader.answer_of(g.steps, g.meta), problem.reference_answer)
            for g in gens
        )
        return {"value": ok / n, "samples": n, "tokens": sum(int(g.num_tokens or 0) for g in gens)}

    return _cached(key, make)


def label_batch(spec: dict[str, Any], bid: int, items: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Label one batch; pure in ``(spec, bid, items)`` up to wall time. Returns shard lines + cost.

    Runs in the driver (local executor) or in a Ray worker.
    """
    t0 = time.perf_counter()
    ident = spec["identity"]
    runtime = _RUNTIME.get(spec.get("runtime_key") or "", {})
    ikey = json.dumps(ident, sort_keys=True)
    labeller = runtime.get("labeller") or _cached(
        "labeller" + ikey, lambda: labeller_from_config(ident["method"], ident["n"], ident["label_opts"])
    )
    policy = runtime.get("policy")
    if policy is None and (labeller.needs_policy() or spec["kind"] == "problems" or ident["scan"]):
        policy = _cached("policy" + ikey, lambda: build_policy(ident["policy"], ident["policy_opts"]))
    grader = _cached("grader", Grader)
    ctx = LabelContext(policy=policy, seed=ident["seed"], grader=grader, max_steps=ident["max_steps"])
    path = spec["input"]

    jobs: list[tuple[int, Solution, Problem, dict[str, Any]]] = []  # (line, solution, problem, extra)
    skipped: list[dict[str, Any]] = []
    sc_cost = {"samples": 0, "tokens": 0}
    sample_tokens = 0
    for line, obj in items:
        if spec["kind"] == "solutions":
            sol = Solution.from_dict(obj, file=path, line=line)
            prob = problem_from_solution(sol)
            jobs.append((line, sol, prob, {}))
            continue
        prob = Problem.from_dict(obj, file=path, line=line)
        k = ident["samples_per_problem"] or DEFAULT_SAMPLES_PER_PROBLEM
        gens = policy.sample([prob], k, seed=derive_seed(ident["seed"], "sample", prob.id))[0]
        for i, g in enumerate(gens):
            sid = f"{prob.id}#{i}"
            sample_tokens += int(g.num_tokens or 0)
            steps = [s for s in g.steps]
            if not steps:
                skipped.append({"id": sid, "reason": "the policy generated no steps"})
                continue
            sol = Solution(
                id=sid,
                problem=prob.question,
                steps=steps,
                answer=grader.answer_of(steps, g.meta),
                reference_answer=prob.reference_answer,
                meta={**prob.meta, META_PROBLEM_ID: prob.id, "finished": bool(g.finished)},
                turns=_sampled_turns(g, steps, sid),
            )
            jobs.append((line, sol, prob, {"sample_tokens": int(g.num_tokens or 0), "sample_index": i}))

    # SCAN self-confidence, per problem
    sc_by_problem: dict[str, dict[str, Any]] = {}
    if ident["scan"]:
        for _line, _sol, prob, _extra in jobs:
            if prob.id in sc_by_problem:
                continue
            if spec["kind"] == "problems" and not ident["scan_samples"]:
                mine = [s for _l, s, p, _e in jobs if p.id == prob.id]
                ok = sum(bool(solution_answer_correct(s, prob, grader)) for s in mine)
                sc_by_problem[prob.id] = {
                    "value": ok / len(mine),
                    "samples": 0,
                    "tokens": 0,
                    "reused": len(mine),
                }
            else:
                sc = _self_confidence(
                    spec, policy, grader, prob, ident["scan_samples"] or DEFAULT_SCAN_SAMPLES
                )
                sc_by_problem[prob.id] = dict(sc)
                sc_cost["samples"] += sc["samples"]
                sc_cost["tokens"] += sc["tokens"]

    lines: list[str] = []
    rollouts = tokens = dropped = 0
    for _line, sol, prob, extra in jobs:
        outcome = labeller.label(sol, prob, ctx)
        if ident["scan"]:
            from prmkit.label.denoise import apply_scan

            sc = sc_by_problem[prob.id]
            outcome = apply_scan(
                outcome,
                n_steps=len(sol.steps),
                answer_correct=solution_answer_correct(sol, prob, grader),
                sc=sc["value"],
                min_confidence=ident["scan_min_confidence"]
                if ident["scan_min_confidence"] is not None
                else DEFAULT_SCAN_MIN_CONFIDENCE,
                tolerance=ident["scan_tolerance"] if ident["scan_tolerance"] is not None else True,
            )
            outcome.meta["self_confidence"] = sc["value"]
        rec = _output_record(sol, outcome, extra)
        rollouts += outcome.rollouts
        tokens += outcome.tokens
        dropped += outcome.dropped is not None
        lines.append(json.dumps(rec.to_dict(), ensure_ascii=False))
    return {
        "batch": bid,
        "lines": lines,
        "cost": {
            "records_in": len(items),
            "solutions": len(lines),
            "dropped": dropped,
            "skipped": skipped,
            "rollouts": rollouts,
            "rollout_tokens": tokens,
            "sample_tokens": sample_tokens,
            "self_confidence": sc_cost,
            "wall_s": round(time.perf_counter() - t0, 4),
        },
    }


def _output_record(sol: Solution, outcome: LabelOutcome, extra: dict[str, Any]) -> Solution:
    meta = dict(sol.meta)
    if sol.labels is not None:
        meta["input_labels"] = list(sol.labels)
    lab = dict(outcome.meta)
    lab["cost"] = {"rollouts": outcome.rollouts, "tokens": outcome.tokens, **extra}
    if outcome.dropped is not None:
        lab["dropped"] = outcome.dropped
    meta[META_LABELLING] = lab
    return Solution(
        id=sol.id,
        problem=sol.problem,
        steps=list(sol.steps),
        answer=sol.answer,
        reference_answer=sol.reference_answer,
        labels=None if outcome.dropped is not None else outcome.labels,
        scores=sol.scores,
        meta=meta,
        turns=sol.turns,
    )


def _sampled_turns(g: Any, steps: list[str], sid: str) -> list[Turn] | None:
    """The turns of a sampled trajectory (an environment policy's ``Generation.meta["turns"]``),
    checked against its steps; ``None`` for a policy that reports no turns."""
    if g.meta.get("turns") is None:
        return None
    turns = turns_from_json(g.meta["turns"])
    if steps_from_turns(turns) != steps:
        raise PrmkitError(
            f"sample {sid}: the policy's steps disagree with the text of its turns", field="policy"
        )
    return turns


# ---------------------------------------------------------------- the run


def _check_config(cfg: LabelConfig) -> None:
    if not cfg.input:
        raise PrmkitError("no input file given (--in)", field="input")
    if not cfg.out:
        raise PrmkitError("no output directory given (--out)", field="out")
    cfg.__post_init__()  # fields may have been set after construction


def run_labelling(
    cfg: LabelConfig, *, policy: Any = None, labeller: Labeller | None = None
) -> dict[str, Any]:
    """Label every record of ``cfg.input`` into ``cfg.out`` (resumable); returns the summary.

    ``policy`` / ``labeller`` may be passed as objects (local executor only); they are recorded
    in the manifest by class name. Input solutions are labelled as they are; input problems are
    first solved ``samples_per_problem`` times by the policy (record ids ``problem_id#i``).

    Example:
        summary = run_labelling(LabelConfig(input="sols.jsonl", out="runs/mc", method="mc", n=8))
        summary["rollouts"], summary["kept"], summary["dropped"]
    """

    _check_config(cfg)
    if cfg.select != "all":
        raise PrmkitError(
            "select=uncertain: call prmkit.label.active.run_uncertain_labelling", field="select"
        )
    check_input_file(cfg.input)  # exists, readable, non-empty, first record parses: before a model loads
    if (policy is not None or labeller is not None) and cfg.executor != "local":
        raise PrmkitError(
            "policy/labeller objects need the local executor; name them for ray", field="executor"
        )
    lab = labeller if labeller is not None else labeller_from_config(cfg.method, cfg.n, cfg.label_opts)
    if labeller is None:
        _CACHE.setdefault("labeller" + json.dumps(_identity(cfg), sort_keys=True), lab)
    kind, items = _read_input(cfg, needs_reference=lab.needs_policy() or cfg.scan)
    if kind == "solutions" and cfg.samples_per_problem is not None:
        raise PrmkitError("samples_per_problem applies to problem input only", field="samples_per_problem")

    out = Path(cfg.out)
    (out / SHARDS).mkdir(parents=True, exist_ok=True)
    # one writer per output directory, --resume included: taken before the directory is examined
    with RunLock(out, command="label", is_dir=True):
        return _run_locked(cfg, out, lab, kind, items, policy=policy, labeller=labeller)


def _run_locked(
    cfg: LabelConfig,
    out: Path,
    lab: Labeller,
    kind: str,
    items: list[tuple[int, dict[str, Any]]],
    *,
    policy: Any,
    labeller: Labeller | None,
) -> dict[str, Any]:
    from prmkit.progress import Bar

    ident = _identity(cfg)
    if policy is not None:
        ident["policy"] = f"<object {type(policy).__module__}.{type(policy).__qualname__}>"
    if labeller is not None:
        ident["label_opts"] = {"<object>": type(labeller).__qualname__, **labeller.options()}
        ident["label_opts"] = json.loads(json.dumps(ident["label_opts"], default=str))
    input_hash = sha256_file(cfg.input)
    mpath = out / MANIFEST
    existing = sorted(glob.glob(str(out / SHARDS / "shard-*.jsonl")))
    if mpath.exists() or existing:
        if not cfg.resume:
            raise PrmkitError(
                "output directory already holds a labelling run; pass --resume or use a new --out",
                file=str(out),
            )
        if mpath.exists():
            old = json.loads(mpath.read_text(encoding="utf-8"))
            for k, v in ident.items():
                if old["config"].get(k) != v:
                    raise PrmkitError(
                        f"differs from the run being resumed ({old['config'].get(k)!r} there, {v!r} here)",
                        file=str(mpath),
                        field=k,
                    )
            if old["input"]["sha256"] != input_hash:
                raise PrmkitError(
                    "the input file changed since this run started", file=str(mpath), field="input"
                )
    for tmp in [
        p for d in (out / SHARDS, out) for pat in (".tmp-*", "*.tmp-*") for p in glob.glob(str(d / pat))
    ]:
        os.remove(tmp)  # a write interrupted by a kill; the batch will be redone

    bs = cfg.batch_size
    batches = [(b, items[i : i + bs]) for b, i in enumerate(range(0, len(items), bs))]
    completed = {b for b, _ in batches if _shard_path(out, b).exists()}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "config": ident,
        "run": {k: getattr(cfg, k) for k in ("executor", "ray_address", "num_cpus", "quiet")},
        "seed": cfg.seed,
        "labeller": {"name": lab.name, "options": json.loads(json.dumps(lab.options(), default=str))},
        "versions": versions(["ray"] if cfg.executor == "ray" else []),
        "input": {"path": str(cfg.input), "sha256": input_hash, "kind": kind, "records": len(items)},
        "batches": {"total": len(batches), "size": bs, "completed": sorted(completed)},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomic(mpath, json.dumps(manifest, indent=1, ensure_ascii=False), durable=True)

    todo = [(b, it) for b, it in batches if b not in completed]
    spec: dict[str, Any] = {"identity": _identity(cfg), "input": str(cfg.input), "kind": kind}
    rkey = None
    if policy is not None or labeller is not None:
        rkey = f"run-{id(cfg)}-{time.monotonic_ns()}"
        _RUNTIME[rkey] = {"policy": policy, "labeller": labeller}
        spec["runtime_key"] = rkey
    t0 = time.perf_counter()
    from prmkit.label.executors import get_executor

    executor = get_executor(cfg.executor, address=cfg.ray_address, num_cpus=cfg.num_cpus)
    with Bar(total=sum(len(it) for _, it in todo), description=f"label {lab.name}", quiet=cfg.quiet) as bar:

        def on_done(res: dict[str, Any]) -> None:
            bid = res["batch"]
            write_text_atomic(
                _shard_meta_path(out, bid), json.dumps(res["cost"], ensure_ascii=False), durable=True
            )
            write_text_atomic(
                _shard_path(out, bid), "".join(line + "\n" for line in res["lines"]), durable=True
            )
            completed.add(bid)
            manifest["batches"]["completed"] = sorted(completed)
            manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            write_text_atomic(mpath, json.dumps(manifest, indent=1, ensure_ascii=False))
            bar.advance(res["cost"]["records_in"])

        try:
            executor.run(label_batch, spec, todo, on_done)
        finally:
            if rkey is not None:
                _RUNTIME.pop(rkey, None)
    summary = summarize(out, elapsed_s=time.perf_counter() - t0)
    write_text_atomic(out / SUMMARY, json.dumps(summary, indent=1, ensure_ascii=False), durable=True)
    return summary


# ---------------------------------------------------------------- reading results


def _iter_shards(out: Path) -> list[Path]:
    if not (out / SHARDS).is_dir():
        raise PrmkitError("not a labelling output directory (no shards/)", file=str(out))
    return sorted(Path(p) for p in glob.glob(str(out / SHARDS / "shard-*.jsonl")))


def read_labelled(out: str | os.PathLike, *, include_dropped: bool = False) -> list[Solution]:
    """Merge the shards of a labelling run into records, in input order.

    Dropped records (consensus disagreements, SCAN filters) are left out unless
    ``include_dropped``; they carry ``meta["labelling"]["dropped"]`` with the reason.

    Example:
        records = read_labelled("runs/label")
        [r.labels for r in records[:2]]
    """
    from prmkit.records import read_records

    recs: list[Solution] = []
    for p in _iter_shards(Path(out)):
        for r in read_records(p):
            if include_dropped or "dropped" not in r.meta.get(META_LABELLING, {}):
                recs.append(r)
    return recs


def summarize(out: str | os.PathLike, elapsed_s: float | None = None) -> dict[str, Any]:
    """Totals of a run from its shards: records, kept/dropped (by reason), rollouts, tokens, time."""
    out = Path(out)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8")) if (out / MANIFEST).exists() else {}
    tot: dict[str, Any] = {
        "method": manifest.get("config", {}).get("method"),
        "seed": manifest.get("seed"),
        "batches_total": manifest.get("batches", {}).get("total"),
        "batches_done": 0,
        "records_in": 0,
        "solutions": 0,
        "kept": 0,
        "dropped": 0,
        "dropped_by_reason": {},
        "skipped": [],
        "rollouts": 0,
        "rollout_tokens": 0,
        "sample_tokens": 0,
        "self_confidence_samples": 0,
        "self_confidence_tokens": 0,
        "batch_wall_s": 0.0,
        "steps": 0,
        "with_error": 0,
    }
    for shard in _iter_shards(out):
        tot["batches_done"] += 1
        mp = shard.with_name(shard.name.replace(".jsonl", ".meta.json"))
        if mp.exists():
            c = json.loads(mp.read_text(encoding="utf-8"))
            tot["records_in"] += c["records_in"]
            tot["skipped"].extend(c["skipped"])
            tot["sample_tokens"] += c["sample_tokens"]
            tot["self_confidence_samples"] += c["self_confidence"]["samples"]
            tot["self_confidence_tokens"] += c["self_confidence"]["tokens"]
            tot["batch_wall_s"] += c["wall_s"]
        for line in shard.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            lab = d["meta"].get(META_LABELLING, {})
            tot["solutions"] += 1
            tot["rollouts"] += lab.get("cost", {}).get("rollouts", 0)
            tot["rollout_tokens"] += lab.get("cost", {}).get("tokens", 0)
            if "dropped" in lab:
                tot["dropped"] += 1
                reason = lab["dropped"].split(":")[0]
                tot["dropped_by_reason"][reason] = tot["dropped_by_reason"].get(reason, 0) + 1
            else:
                tot["kept"] += 1
                tot["steps"] += len(d["steps"])
                tot["with_error"] += first_error_of(d.get("labels")) >= 0
    tot["batch_wall_s"] = round(tot["batch_wall_s"], 3)
    tot["rollouts_per_solution"] = round(tot["rollouts"] / tot["solutions"], 3) if tot["solutions"] else 0.0
    if elapsed_s is not None:
        tot["elapsed_s"] = round(elapsed_s, 3)
    return tot


__all__ = [
    "LabelConfig",
    "build_policy",
    "label_batch",
    "labeller_from_config",
    "problem_from_solution",
    "read_labelled",
    "run_labelling",
    "summarize",
]
