"""``prmkit quickstart``: the whole PRM loop on the built-in arithmetic world, on a CPU, in minutes.

Stages (each writes its outputs plus ``done.json`` keyed by a hash of its config and of the
stages it depends on; a rerun with the same config skips it and says "reused"):

1. ``problems``  arithmetic-world problems (train, a ProcessBench-style test set, search problems)
2. ``sample``    solutions from the noisy ``arith`` policy, exact truth kept in ``meta``
3. ``label-mc``  Monte Carlo labels (Math-Shepherd), accuracy vs the world's checker, rollouts spent
4. ``label-binary``  binary search for the first error (OmegaPRM), same measurements
5. ``train``     the tiny PRM from scratch (:func:`prmkit.train.train`) on one of the label sets
6. ``evaluate``  first-error F1 on the arithmetic ProcessBench set (and GSM8K-perturb with ``gsm8k``)
7. ``search``    best-of-N and beam search with the trained PRM vs majority vote
8. ``report``    one self-contained HTML page with every plot and a summary table

Example::

    from prmkit.quickstart import QuickstartConfig, run_quickstart
    summary = run_quickstart(QuickstartConfig(out="runs/qs", tiny=True))
    summary["report"], summary["checks"]

Sizes come from a preset (``full``: the numbers in docs/quickstart.md; ``tiny``: a reduced run
for tests); any field left ``None`` takes the preset's value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError

__all__ = [
    "PRESETS",
    "STAGES",
    "QuickstartConfig",
    "label_accuracy",
    "run_quickstart",
    "step_auroc",
    "summary_markdown",
]

STAGES = ("problems", "sample", "label-mc", "label-binary", "train", "evaluate", "search", "report")
DONE = "done.json"
#: thresholds printed with pass/fail marks
F1_TARGET = 80.0
TRAIN_LABEL_SOURCES = ("binary", "mc", "exact")


def _h(text: str, default: Any = None) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass
class QuickstartConfig:
    """Options of :func:`run_quickstart` (``prmkit quickstart``). ``None`` = the preset's value."""

    out: str = _h("output directory (one subdirectory per stage)", "runs/quickstart")
    tiny: bool = _h("reduced sizes (a few hundred problems, short training), for tests", False)
    seed: int = _h("seed of every stage", 0)
    gsm8k: str | None = _h(
        "GSM8K JSONL (e.g. ../shared/data/gsm8k/test.jsonl): also evaluate on gsm8k-perturb"
    )
    gsm8k_limit: int | None = _h("GSM8K records used (evenly from the file's start); null = preset")
    quiet: bool | None = _h("no progress bars or stage lines (default: the global --quiet)")
    threads: int = _h("torch CPU threads while the quickstart runs (1: robust on a busy machine)", 1)
    # world and policy
    n_problems: int | None = _h("training problems")
    samples_per_problem: int | None = _h("policy samples per training problem")
    min_ops: int = _h("fewest operations per problem", 2)
    max_ops: int = _h("most operations per problem", 8)
    max_value: int = _h("largest quantity in a problem", 1000)
    max_given: int = _h("largest number stated in a problem", 50)
    error_rate: float = _h("the arith policy's per-step error rate (sampling, rollouts, search)", 0.15)
    miracle_rate: float = _h("the arith policy's miracle rate", 0.02)
    # labelling
    mc_n: int | None = _h("Monte Carlo rollouts per prefix")
    binary_n: int | None = _h("rollouts per binary-search estimate")
    train_labels: str = _h("labels the PRM trains on: binary | mc | exact (the checker)", "binary")
    # training
    train_steps: int | None = _h("optimizer steps")
    drills: int | None = _h("single-step arithmetic drill records added to training")
    hidden: int | None = _h("tiny model width")
    layers: int | None = _h("tiny model layers")
    heads: int | None = _h("tiny model attention heads")
    batch_size: int | None = _h("training batch size")
    lr: float | None = _h("peak learning rate")
    time_budget_s: float | None = _h("stop training after this many seconds (checkpoint still written)")
    # evaluation and search
    n_bench: int | None = _h("arithmetic ProcessBench records (half with an error)")
    n_dev: int | None = _h("held-out records for the F1-vs-step curve during training")
    n_search: int | None = _h("search problems")
    search_n: int | None = _h("N: samples for best-of-N, beams for beam search")
    beam_width: int | None = _h("beam search: expansions per kept beam")
    agg: str = _h("step -> solution score aggregation for search", "min")

    def resolved(self) -> QuickstartConfig:
        """A copy with every ``None`` size filled from the preset (``tiny`` or ``full``)."""
        preset = PRESETS["tiny" if self.tiny else "full"]
        vals = {
            k: (preset[k] if getattr(self, k) is None and k in preset else getattr(self, k)) for k in _names()
        }
        cfg = QuickstartConfig(**vals)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check ranges and names; raises :class:`PrmkitError` naming the field."""
        if self.train_labels not in TRAIN_LABEL_SOURCES:
            raise PrmkitError(
                f"must be one of {', '.join(TRAIN_LABEL_SOURCES)}, got {self.train_labels!r}",
                field="train_labels",
            )
        for name in ("n_problems", "samples_per_problem", "mc_n", "binary_n", "train_steps", "hidden", "layers",
                     "heads", "batch_size", "n_bench", "n_search", "search_n", "beam_width"):  # fmt: skip
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise PrmkitError(f"must be >= 1, got {v}", field=name)
        if self.threads < 1:
            raise PrmkitError(f"must be >= 1, got {self.threads}", field="threads")
        for name in ("drills", "n_dev", "gsm8k_limit"):
            v = getattr(self, name)
            if v is not None and int(v) < 0:
                raise PrmkitError(f"must be >= 0, got {v}", field=name)
        if not 1 <= self.min_ops <= self.max_ops:
            raise PrmkitError(
                f"need 1 <= min_ops <= max_ops, got {self.min_ops}, {self.max_ops}", field="min_ops"
            )
        for name in ("error_rate", "miracle_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise PrmkitError(f"must be in [0, 1], got {getattr(self, name)}", field=name)
        if self.gsm8k is not None and not Path(self.gsm8k).is_file():
            raise PrmkitError("GSM8K file not found", file=self.gsm8k, field="gsm8k")
        from prmkit.aggregate import STEP_AGGREGATIONS

        STEP_AGGREGATIONS.get(self.agg)


def _names() -> list[str]:
    return [f.name for f in dataclasses.fields(QuickstartConfig)]


#: sizes per mode (docs/quickstart.md has the numbers each gives; ``full`` does NOT yet reach the
#: F1 >= 80 target with the tiny model and this CPU budget)
PRESETS: dict[str, dict[str, Any]] = {
    "full": dict(
        n_problems=1500, samples_per_problem=2, mc_n=4, binary_n=4, train_steps=600, drills=4000,
        hidden=128, layers=4, heads=4, batch_size=32, lr=1e-3, time_budget_s=None, n_bench=400,
        n_dev=150, n_search=200, search_n=4, beam_width=2, gsm8k_limit=400,
    ),
    "tiny": dict(
        n_problems=200, samples_per_problem=2, mc_n=2, binary_n=2, train_steps=400, drills=2000,
        hidden=64, layers=2, heads=2, batch_size=32, lr=1e-3, time_budget_s=None, n_bench=100,
        n_dev=0, n_search=30, search_n=4, beam_width=2, gsm8k_limit=60,
    ),
}  # fmt: skip

# which config fields each stage's result depends on (besides the upstream stages' keys)
_STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "problems": ("seed", "n_problems", "min_ops", "max_ops", "max_value", "max_given", "n_bench", "n_dev", "n_search", "error_rate",
                 "miracle_rate"),
    "sample": ("seed", "samples_per_problem", "error_rate", "miracle_rate"),
    "label-mc": ("seed", "mc_n", "error_rate", "miracle_rate"),
    "label-binary": ("seed", "binary_n", "error_rate", "miracle_rate"),
    "train": ("seed", "train_labels", "train_steps", "drills", "hidden", "layers", "heads", "batch_size", "lr",
              "time_budget_s"),
    "evaluate": ("gsm8k", "gsm8k_limit", "seed"),
    "search": ("seed", "search_n", "beam_width", "agg", "error_rate", "miracle_rate"),
    "report": (),
}  # fmt: skip
_DEPS: dict[str, tuple[str, ...]] = {
    "problems": (),
    "sample": ("problems",),
    "label-mc": ("sample",),
    "label-binary": ("sample",),
    "train": ("problems", "label-mc", "label-binary"),
    "evaluate": ("problems", "train"),
    "search": ("problems", "train"),
    "report": ("label-mc", "label-binary", "train", "evaluate", "search"),
}


# ---------------------------------------------------------------- measurement helpers


def label_accuracy(labelled: list[Any], truth: dict[str, int]) -> dict[str, Any]:
    """Agreement of step labels with the exact first error of each solution.

    Steps the truth defines are those up to and including the first error (after it, a step's
    correctness is not defined by the ProcessBench convention). A label counts as "correct" when
    ``>= 0.5``. Returns step accuracy and coverage (share of defined steps that got a label), and
    the ProcessBench first-error F1 of the labels themselves.

    Example:
        >>> from prmkit.records import Solution
        >>> recs = [Solution(id="a", problem="p", steps=["x", "y"], labels=[1, 0]),
        ...         Solution(id="b", problem="p", steps=["x", "y"], labels=[1, 0])]
        >>> r = label_accuracy(recs, {"a": 1, "b": -1})
        >>> r["step_accuracy"], r["f1"]
        (75.0, 0.0)
    """
    from prmkit.evaluate.processbench import processbench_metrics
    from prmkit.records import first_error_of

    agree = defined = covered = 0
    preds: list[int] = []
    gold: list[int] = []
    for r in labelled:
        fe = truth[r.id]
        upto = len(r.steps) if fe < 0 else fe + 1
        labels = r.labels or [None] * len(r.steps)
        for i in range(upto):
            defined += 1
            v = labels[i]
            if v is None:
                continue
            covered += 1
            agree += (v >= 0.5) == (fe < 0 or i < fe)
        preds.append(first_error_of(labels))
        gold.append(fe)
    m = processbench_metrics(preds, gold)
    return {
        "step_accuracy": 100.0 * agree / covered if covered else None,
        "coverage": 100.0 * covered / defined if defined else None,
        "f1": m["f1"],
        "acc_err": m["acc_err"],
        "acc_corr": m["acc_corr"],
        "n_solutions": len(labelled),
        "n_steps_defined": defined,
    }


def step_auroc(records: list[Any]) -> float | None:
    """Probability that a step before the first error scores higher than a first wrong step
    (ties count half): 0.5 is chance, 1.0 a perfect ranking. ``None`` when a group is empty.

    Example:
        >>> from prmkit.records import Solution
        >>> r = Solution(id="a", problem="p", steps=["x", "y", "z"], scores=[0.9, 0.2, 0.8], labels=[1, 0, None])
        >>> step_auroc([r])
        1.0
    """
    pos: list[float] = []
    neg: list[float] = []
    for r in records:
        fe = int(r.meta["label"]) if "label" in r.meta else r.first_error
        scores = r.scores or []
        upto = len(scores) if fe < 0 else fe
        pos += [v for v in scores[:upto] if v is not None]
        if 0 <= fe < len(scores) and scores[fe] is not None:
            neg.append(scores[fe])
    if not pos or not neg:
        return None
    # rank statistic (Mann-Whitney U) with average ranks for ties
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    rank_sum, i = 0.0, 0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        avg = (i + j + 1) / 2  # ranks are 1-based
        rank_sum += avg * sum(1 for k in range(i, j) if allv[k][1] == 1)
        i = j
    u = rank_sum - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _fmt(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


# ---------------------------------------------------------------- the runner


class _Run:
    """Stage bookkeeping: keys, done markers, reuse, timing and the per-stage log line."""

    def __init__(self, cfg: QuickstartConfig, log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.log = log
        self.keys: dict[str, str] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.timing: dict[str, dict[str, Any]] = {}

    def dir(self, stage: str) -> Path:
        return self.out / stage

    def key(self, stage: str) -> str:
        own = {k: getattr(self.cfg, k) for k in _STAGE_FIELDS[stage]}
        if self.cfg.tiny:
            own["tiny"] = True
        return _hash({"stage": stage, "config": own, "deps": [self.keys[d] for d in _DEPS[stage]], "v": 1})

    def run(
        self, stage: str, fn: Callable[[Path], dict[str, Any]], describe: Callable[[dict[str, Any]], str]
    ) -> dict[str, Any]:
        idx = STAGES.index(stage) + 1
        key = self.key(stage)
        self.keys[stage] = key
        d = self.dir(stage)
        marker = d / DONE
        if marker.is_file():
            try:
                done = json.loads(marker.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                done = {}
            if done.get("key") == key:
                res = done["result"]
                self.results[stage] = res
                self.timing[stage] = {"seconds": done.get("seconds", 0.0), "cpu_seconds": done.get("cpu_seconds"),
                                      "reused": True}  # fmt: skip
                self.log(f"[{idx}/{len(STAGES)}] {stage:<13} reused   {describe(res)}")
                return res
        if d.exists():  # stale or unfinished outputs of this stage: start it over
            shutil.rmtree(d)
        d.mkdir(parents=True)
        self.log(f"[{idx}/{len(STAGES)}] {stage:<13} running ...")
        t0, c0 = time.perf_counter(), time.process_time()
        res = fn(d)
        sec, cpu = round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)
        res = json.loads(json.dumps(res, default=str))
        done = {"stage": stage, "key": key, "seconds": sec, "cpu_seconds": cpu, "result": res}
        marker.write_text(json.dumps(done, indent=1) + "\n", encoding="utf-8")
        self.results[stage] = res
        self.timing[stage] = {"seconds": sec, "cpu_seconds": cpu, "reused": False}
        self.log(f"[{idx}/{len(STAGES)}] {stage:<13} {sec:7.1f} s  {describe(res)}")
        return res


def run_quickstart(cfg: QuickstartConfig, *, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the whole PRM loop on the arithmetic world; returns the summary dict.

    The summary (also written to ``OUT/summary.json``) holds the report path, every stage's
    seconds and whether it was reused, label accuracy and rollouts per method, the PRM's
    first-error F1, search accuracies and ``checks`` (``f1_at_least_80``, ``bon_beats_majority``).

    Example::

        summary = run_quickstart(QuickstartConfig(out="runs/qs", tiny=True))
        print(summary["report"], summary["processbench"]["f1"], summary["checks"])
    """
    from prmkit.progress import is_quiet

    cfg = cfg.resolved()
    quiet = cfg.quiet if cfg.quiet is not None else is_quiet()
    if log is None:
        log = (lambda s: None) if quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    cfg.quiet = quiet
    import torch

    threads = torch.get_num_threads()
    # more threads than free cores makes torch's CPU kernels spin: 1 thread is the robust default
    torch.set_num_threads(cfg.threads)
    try:
        return _run_all(cfg, log)
    finally:
        torch.set_num_threads(threads)


def _run_all(cfg: QuickstartConfig, log: Callable[[str], None]) -> dict[str, Any]:
    t_start = time.perf_counter()
    quiet = bool(cfg.quiet)
    run = _Run(cfg, log)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)

    run.run(
        "problems",
        lambda d: _stage_problems(cfg, d),
        lambda r: f"{r['n_train']} training / {r['n_bench']} benchmark / {r['n_search']} search problems",
    )
    run.run(
        "sample",
        lambda d: _stage_sample(cfg, run.dir("problems"), d, quiet),
        lambda r: (
            f"{r['n_solutions']} solutions, {_fmt(r['pct_with_error'])}% with an error, "
            f"{_fmt(r['pct_answer_correct'])}% right answers"
        ),
    )
    for method in ("mc", "binary"):
        run.run(
            f"label-{method}",
            lambda d, m=method: _stage_label(cfg, m, run.dir("sample"), d, quiet),
            lambda r: (
                f"label accuracy {_fmt(r['step_accuracy'])}% (first-error F1 {_fmt(r['f1'])}), "
                f"{r['rollouts']} rollouts ({_fmt(r['rollouts_per_solution'])}/solution)"
            ),
        )
    run.run(
        "train",
        lambda d: _stage_train(cfg, run, d),
        lambda r: (
            f"{r['global_step']} steps on {r['label_source']} labels, "
            f"held-out F1 {_fmt(r.get('dev_f1'))}, {_fmt(r['train_runtime_s'])} s of training"
        ),
    )
    run.run(
        "evaluate",
        lambda d: _stage_evaluate(cfg, run, d, quiet),
        lambda r: (
            f"arithmetic ProcessBench F1 {_fmt(r['arith']['f1'])}"
            + (f", GSM8K-perturb F1 {_fmt(r['gsm8k']['f1'])}" if r.get("gsm8k") else "")
        ),
    )
    run.run("search", lambda d: _stage_search(cfg, run, d, quiet),
            lambda r: f"best-of-{r['n']} {_fmt(100 * r['accuracy']['best_of_n'])}% vs majority "
                      f"{_fmt(100 * r['accuracy']['majority'])}%, beam {_fmt(100 * r['accuracy']['beam'])}%")  # fmt: skip

    summary = _summary(cfg, run)
    run.run("report", lambda d: _stage_report(cfg, run, summary, d), lambda r: r["path"])
    summary["report"] = run.results["report"]["path"]
    summary["stages"] = run.timing
    summary["total_seconds"] = round(time.perf_counter() - t_start, 2)
    (Path(cfg.out) / "summary.json").write_text(
        json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8"
    )
    return summary


# ---------------------------------------------------------------- stages


def _stage_problems(cfg: QuickstartConfig, d: Path) -> dict[str, Any]:
    from prmkit.records import write_problems, write_records
    from prmkit.worlds.arith import generate_problems, make_bench

    opts = dict(min_ops=cfg.min_ops, max_ops=cfg.max_ops, max_value=cfg.max_value, max_given=cfg.max_given)
    train = generate_problems(cfg.n_problems, seed=cfg.seed, id_prefix="train", **opts)
    search = generate_problems(cfg.n_search, seed=cfg.seed + 1, id_prefix="search", **opts)
    bench_kw = dict(error_rate=cfg.error_rate, miracle_rate=cfg.miracle_rate)
    bench = make_bench(cfg.n_bench, seed=cfg.seed + 2, problems=generate_problems(
        cfg.n_bench, seed=cfg.seed + 2, id_prefix="bench", **opts), **bench_kw)  # fmt: skip
    dev = make_bench(cfg.n_dev, seed=cfg.seed + 3, problems=generate_problems(
        cfg.n_dev, seed=cfg.seed + 3, id_prefix="dev", **opts), **bench_kw) if cfg.n_dev else []  # fmt: skip
    write_problems(d / "train_problems.jsonl", train)
    write_problems(d / "search_problems.jsonl", search)
    write_records(d / "bench.jsonl", bench)
    write_records(d / "dev.jsonl", dev)
    return {
        "n_train": len(train),
        "n_search": len(search),
        "n_bench": len(bench),
        "n_bench_with_error": sum(1 for r in bench if r.meta["label"] >= 0),
        "n_dev": len(dev),
    }


def _stage_sample(cfg: QuickstartConfig, pdir: Path, d: Path, quiet: bool) -> dict[str, Any]:
    from prmkit.progress import track
    from prmkit.records import RecordWriter, Solution, read_problems
    from prmkit.worlds.arith import check_steps
    from prmkit.worlds.arith_policy import ArithPolicy

    problems = list(read_problems(pdir / "train_problems.jsonl"))
    policy = ArithPolicy(error_rate=cfg.error_rate, miracle_rate=cfg.miracle_rate)
    n_err = n_ok = n = 0
    chunk = 100
    with RecordWriter(d / "solutions.jsonl") as w:
        for i in track(range(0, len(problems), chunk), total=-(-len(problems) // chunk),
                       description="sampling", quiet=quiet):  # fmt: skip
            batch = problems[i : i + chunk]
            for p, row in zip(
                batch, policy.sample(batch, cfg.samples_per_problem, seed=cfg.seed), strict=True
            ):
                for k, g in enumerate(row):
                    chk = check_steps(p, g.steps)
                    n += 1
                    n_err += chk.first_error >= 0
                    n_ok += chk.answer_correct
                    w.write(
                        Solution(
                            id=f"{p.id}#{k}",
                            problem=p.question,
                            steps=list(g.steps),
                            answer=None if chk.answer is None else str(chk.answer),
                            reference_answer=p.reference_answer,
                            meta={
                                "problem_id": p.id,
                                "arith": p.meta["arith"],
                                "exact_first_error": chk.first_error,
                            },
                        )
                    )
    return {"n_solutions": n, "pct_with_error": 100.0 * n_err / n, "pct_answer_correct": 100.0 * n_ok / n}


def _stage_label(cfg: QuickstartConfig, method: str, sdir: Path, d: Path, quiet: bool) -> dict[str, Any]:
    from prmkit.label import LabelConfig, read_labelled, run_labelling

    n = cfg.mc_n if method == "mc" else cfg.binary_n
    lcfg = LabelConfig(
        input=str(sdir / "solutions.jsonl"), out=str(d / "run"), policy="arith", method=method, n=n,
        seed=cfg.seed, batch_size=200, resume=True, quiet=quiet,
        policy_opts={"error_rate": cfg.error_rate, "miracle_rate": cfg.miracle_rate},
    )  # fmt: skip
    t0 = time.perf_counter()
    summary = run_labelling(lcfg)
    sec = time.perf_counter() - t0
    recs = read_labelled(d / "run")
    truth = {r.id: int(r.meta["exact_first_error"]) for r in recs}
    acc = label_accuracy(recs, truth)
    rollouts = int(summary.get("rollouts", 0))
    return {
        "method": method,
        "n": n,
        **acc,
        "rollouts": rollouts,
        "rollouts_per_solution": rollouts / max(1, len(recs)),
        "rollout_tokens": int(summary.get("rollout_tokens", 0)),
        "seconds": round(sec, 2),
        "records": str(d / "run"),
    }


def _stage_train(cfg: QuickstartConfig, run: _Run, d: Path) -> dict[str, Any]:
    from prmkit.label import read_labelled
    from prmkit.records import Solution, labels_from_first_error, read_records
    from prmkit.train.config import TrainConfig
    from prmkit.train.default import arithmetic_drills
    from prmkit.train.trainer import train

    if cfg.train_labels == "exact":
        recs = [
            Solution(id=r.id, problem=r.problem, steps=r.steps, reference_answer=r.reference_answer,
                     labels=labels_from_first_error(int(r.meta["exact_first_error"]), len(r.steps)), meta=r.meta)
            for r in read_records(run.dir("sample") / "solutions.jsonl")
        ]  # fmt: skip
    else:
        recs = read_labelled(run.dir(f"label-{cfg.train_labels}") / "run")
    drills = arithmetic_drills(recs, cfg.drills, seed=cfg.seed) if cfg.drills else []
    dev = list(read_records(run.dir("problems") / "dev.jsonl")) if cfg.n_dev else []
    tcfg = TrainConfig(
        out=str(d / "prm"), init="tiny", format="token-classification", loss="bce", after_error="drop",
        max_steps=cfg.train_steps, time_budget_s=cfg.time_budget_s, batch_size=cfg.batch_size, lr=cfg.lr,
        warmup_ratio=0.03, weight_decay=0.01, tiny_hidden=cfg.hidden, tiny_layers=cfg.layers,
        tiny_heads=cfg.heads, tiny_vocab=600, max_length=512, seed=cfg.seed, logging_steps=25,
        eval_steps=max(1, cfg.train_steps // 4) if dev else 0, eval_batch_size=64,
    )  # fmt: skip
    import contextlib

    # the trainer's log lines go to stderr with the stage lines; stdout keeps the summary
    with contextlib.redirect_stdout(sys.stderr):
        res = train(tcfg, train_records=recs + drills, eval_records=dev or None)
    losses = [(h["step"], h["loss"]) for h in res.log_history if "loss" in h and "step" in h]
    return {
        "prm": str(d / "prm"),
        "label_source": cfg.train_labels,
        "n_records": len(recs),
        "n_drills": len(drills),
        "global_step": res.global_step,
        "train_runtime_s": res.train_runtime_s,
        "tokens_seen": res.tokens_seen,
        "dev_f1": res.metrics.get("eval_pb_f1"),  # on dev.jsonl, or on the trainer's held-out split
        "history": res.history,
        "losses": losses,
        "model": {"hidden": cfg.hidden, "layers": cfg.layers, "heads": cfg.heads},
        "metrics": res.metrics,
    }


def _pb_summary(result: dict[str, Any], subset: str) -> dict[str, Any]:
    pol = result["policies"]["fixed"]
    m = pol["subsets"][subset] if "subsets" in pol else pol[subset]
    return {"f1": m["f1"], "acc_err": m["acc_err"], "acc_corr": m["acc_corr"], "threshold": pol["threshold"]}


def _stage_evaluate(cfg: QuickstartConfig, run: _Run, d: Path, quiet: bool) -> dict[str, Any]:
    from prmkit.evaluate.calibration import evaluate_calibration
    from prmkit.evaluate.processbench import evaluate_processbench, score_processbench
    from prmkit.records import read_records, write_records
    from prmkit.scorers.base import load_scorer

    scorer = load_scorer(None, str(run.dir("train") / "prm"))
    out: dict[str, Any] = {}
    bench = list(read_records(run.dir("problems") / "bench.jsonl"))
    data = {"arith": bench}
    if cfg.gsm8k:
        from prmkit.worlds.gsm8k_perturb import perturb_gsm8k

        data["gsm8k"] = perturb_gsm8k(cfg.gsm8k, seed=cfg.seed, limit=cfg.gsm8k_limit)
    scored = score_processbench(scorer, data, batch_size=64)
    for name, recs in scored.items():
        write_records(d / f"{name}_scored.jsonl", recs)
        res = evaluate_processbench({name: recs}, tune_on=None)
        steps_scores, steps_labels = [], []
        for r in recs:
            for s, y in zip(r.scores or [], r.labels or [], strict=False):
                if s is not None and y is not None:
                    steps_scores.append(s)
                    steps_labels.append(y)
        res["calibration"] = evaluate_calibration(steps_scores, steps_labels)
        (d / f"{name}_processbench.json").write_text(json.dumps(res, default=str) + "\n", encoding="utf-8")
        out[name] = {**_pb_summary(res, name), "auroc": step_auroc(recs), "n": len(recs), "n_with_error": sum(r.first_error >= 0 for r in recs),
                     "ece": res["calibration"]["ece"], "result": str(d / f"{name}_processbench.json")}  # fmt: skip
    return out


def _stage_search(cfg: QuickstartConfig, run: _Run, d: Path, quiet: bool) -> dict[str, Any]:
    from prmkit.records import read_problems
    from prmkit.scorers.base import load_scorer
    from prmkit.search import SearchConfig, search
    from prmkit.search.run import rule_accuracy, summarize
    from prmkit.worlds.arith_policy import ArithPolicy

    problems = list(read_problems(run.dir("problems") / "search_problems.jsonl"))
    policy = ArithPolicy(error_rate=cfg.error_rate, miracle_rate=cfg.miracle_rate)
    scorer = load_scorer(None, str(run.dir("train") / "prm"))
    out: dict[str, Any] = {"n": cfg.search_n, "n_problems": len(problems), "agg": cfg.agg}
    runs = {}
    for method, extra in (("best-of-n", {}), ("beam", {"width": cfg.beam_width})):
        scfg = SearchConfig(method=method, n=cfg.search_n, agg=cfg.agg, answer_rule="best_of_n", seed=cfg.seed,
                            **extra)  # fmt: skip
        res = search(problems, policy, scorer, scfg, quiet=quiet)
        runs[method] = res
        with open(d / f"{method}.jsonl", "w", encoding="utf-8") as fh:
            for r in res:
                fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
        out[method] = summarize(res)
    bon = runs["best-of-n"]
    oracle = sum(1 for r in bon if any(c.meta.get("correct") or _correct(c) for c in r.candidates)) / len(bon)
    out["accuracy"] = {
        "best_of_n": out["best-of-n"]["accuracy"],
        "majority": rule_accuracy(bon, cfg.agg, "majority"),
        "weighted_vote": rule_accuracy(bon, cfg.agg, "weighted_vote"),
        "beam": out["beam"]["accuracy"],
        "first_sample": sum(1 for r in bon if r.candidates and _correct(r.candidates[0])) / len(bon),
        "oracle": oracle,
    }
    out["tokens"] = {
        "best_of_n": out["best-of-n"]["mean_generated_tokens"],
        "beam": out["beam"]["mean_generated_tokens"],
    }
    return out


def _correct(sol: Any) -> bool:
    from prmkit.search.base import is_correct

    return bool(is_correct(sol.answer, sol.reference_answer))


# ---------------------------------------------------------------- summary and report


def _summary(cfg: QuickstartConfig, run: _Run) -> dict[str, Any]:
    r = run.results
    acc = r["search"]["accuracy"]
    f1 = r["evaluate"]["arith"]["f1"]
    return {
        "out": cfg.out,
        "mode": "tiny" if cfg.tiny else "full",
        "config": dataclasses.asdict(cfg),
        "labelling": {m: {k: r[f"label-{m}"][k] for k in ("n", "step_accuracy", "coverage", "f1", "rollouts",
                                                            "rollouts_per_solution")} for m in ("mc", "binary")},
        "train": {k: r["train"][k] for k in ("prm", "label_source", "global_step", "train_runtime_s", "dev_f1")},
        "processbench": r["evaluate"]["arith"],
        "gsm8k": r["evaluate"].get("gsm8k"),
        "search": {"n": r["search"]["n"], "n_problems": r["search"]["n_problems"], "accuracy": acc,
                   "tokens": r["search"]["tokens"]},
        "checks": {
            "f1_at_least_80": f1 is not None and f1 >= F1_TARGET,
            "bon_beats_majority": acc["best_of_n"] is not None and acc["majority"] is not None
            and acc["best_of_n"] > acc["majority"],
        },
    }  # fmt: skip


def summary_markdown(summary: dict[str, Any], timing: dict[str, dict[str, Any]] | None = None) -> str:
    """The summary table (Markdown) printed at the end of a run and shown first in the report.

    Example:
        >>> s = {"mode": "tiny", "labelling": {"mc": {"n": 2, "step_accuracy": 90.0, "f1": 70.0,
        ...      "rollouts": 10, "rollouts_per_solution": 2.0}}, "processbench": {"f1": 85.0, "n": 10},
        ...      "gsm8k": None, "search": {"n": 4, "n_problems": 3, "accuracy": {"best_of_n": 1.0,
        ...      "majority": 0.5, "beam": 1.0, "weighted_vote": 1.0, "oracle": 1.0, "first_sample": 0.3}},
        ...      "train": {"global_step": 5, "label_source": "mc"},
        ...      "checks": {"f1_at_least_80": True, "bon_beats_majority": True}}
        >>> "| PASS |" in summary_markdown(s)
        True
    """

    def mark(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    s = summary
    acc = s["search"]["accuracy"]
    lines = [
        f"## Summary ({s['mode']} mode)",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
    ]
    for m, lab in s["labelling"].items():
        name = "Monte Carlo" if m == "mc" else "binary search"
        lines.append(f"| label accuracy, {name} (n={lab['n']}) | {_fmt(lab['step_accuracy'])}% "
                     f"(F1 {_fmt(lab['f1'])}, {_fmt(lab['rollouts_per_solution'])} rollouts/solution) | | |")  # fmt: skip
    pb = s["processbench"]
    lines.append(
        f"| PRM first-error F1, arithmetic ProcessBench ({pb['n']} records) | {_fmt(pb['f1'])} | >= {F1_TARGET:.0f} "
        f"| {mark(s['checks']['f1_at_least_80'])} |"
    )
    lines.append(
        f"| PRM step AUROC (correct vs first wrong steps; chance 0.5) | {_fmt(pb.get('auroc'), 3)} | | |"
    )
    if s.get("gsm8k"):
        g = s["gsm8k"]
        lines.append(f"| PRM first-error F1, GSM8K-perturb ({g['n']} records) | {_fmt(g['f1'])} | | |")
    n, npb = s["search"]["n"], s["search"]["n_problems"]
    lines.append(
        f"| best-of-{n} with the PRM ({npb} problems) | {pct(acc['best_of_n'])} | > majority "
        f"| {mark(s['checks']['bon_beats_majority'])} |"
    )
    lines.append(f"| majority vote of {n} | {pct(acc['majority'])} | | |")
    lines.append(f"| PRM-weighted vote of {n} | {pct(acc['weighted_vote'])} | | |")
    lines.append(f"| beam search ({n} beams) with the PRM | {pct(acc['beam'])} | | |")
    lines.append(f"| one sample (no search) | {pct(acc['first_sample'])} | | |")
    lines.append(f"| oracle (any of {n} right) | {pct(acc['oracle'])} | | |")
    if timing:
        lines += ["", "| stage | wall seconds | CPU seconds | |", "|---|---|---|---|"]
        for st, t in timing.items():
            cpu = t.get("cpu_seconds")
            lines.append(f"| {st} | {t['seconds']:.1f} | {_fmt(cpu)} | {'reused' if t['reused'] else ''} |")
    return "\n".join(lines) + "\n"


def _line_svg(series: dict[str, list[tuple[float, float]]], name: str, xlabel: str, ylabel: str) -> Any:
    """A matplotlib line plot as a report Figure (placeholder when matplotlib is absent)."""
    import io

    from prmkit.evaluate.report import Figure

    try:
        import matplotlib
        from matplotlib.figure import Figure as MplFigure
    except ImportError:
        svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="480" height="60"><text x="10" y="35" font-size="14">'
               "matplotlib is not installed: plot omitted</text></svg>")  # fmt: skip
        return Figure(name, svg, "matplotlib is not installed")
    fig = MplFigure(figsize=(6.0, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    for label, pts in series.items():
        if pts:
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None, label=label
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if any(series.values()):
        ax.legend(fontsize=8)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"prmkit-{name}", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight",
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})  # fmt: skip
    s = buf.getvalue()
    return Figure(name, s[s.index("<svg") :], f"{ylabel} vs {xlabel}")


def _stage_report(cfg: QuickstartConfig, run: _Run, summary: dict[str, Any], d: Path) -> dict[str, Any]:
    from prmkit.evaluate.bon import PoolProblem, PoolSolution, evaluate_bon
    from prmkit.evaluate.report import Figure, Section, build_report, sections_for
    from prmkit.search.run import accuracy_vs_tokens_svg, read_results

    r = run.results
    timing = {k: v for k, v in run.timing.items()}
    sections = [Section("Summary", summary_markdown(summary, timing))]

    # labelling
    rows = ["| method | rollouts / estimate | rollouts | rollouts / solution | step accuracy | coverage | "
            "first-error F1 | acc err | acc corr |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    pts = {}
    for m in ("mc", "binary"):
        x = r[f"label-{m}"]
        rows.append(f"| {'Monte Carlo' if m == 'mc' else 'binary search'} | {x['n']} | {x['rollouts']} | "
                    f"{_fmt(x['rollouts_per_solution'])} | {_fmt(x['step_accuracy'])}% | {_fmt(x['coverage'])}% | "
                    f"{_fmt(x['f1'])} | {_fmt(x['acc_err'])} | {_fmt(x['acc_corr'])} |")  # fmt: skip
        pts[m] = [(x["rollouts_per_solution"], x["step_accuracy"] or 0.0)]
    text = ("Labels of the policy's own samples, compared with the world's exact checker (`check_steps`). "
            "Step accuracy counts the steps the truth defines (up to and including the first error); "
            "coverage is the share of them that got a label.\n\n" + "\n".join(rows))  # fmt: skip
    sections.append(
        Section(
            "Labelling",
            text,
            [
                _line_svg(
                    pts, "label_accuracy_vs_rollouts", "rollouts per solution", "step label accuracy (%)"
                )
            ],
        )
    )
    # training
    t = r["train"]
    hist = [(h["step"], h.get("eval_pb_f1", h.get("pb_f1"))) for h in t["history"]]
    hist = [(a, b) for a, b in hist if b is not None]
    figs = [
        _line_svg({"training loss": [tuple(x) for x in t["losses"]]}, "train_loss", "optimizer step", "loss")
    ]
    if hist:
        figs.append(_line_svg({"held-out first-error F1": hist}, "train_dev_f1", "optimizer step", "F1"))
    text = (f"A {t['model']['layers']}-layer, {t['model']['hidden']}-wide Qwen2 token classifier with a locally "
            f"trained tokenizer, trained from scratch on {t['n_records']} {t['label_source']}-labelled solutions "
            f"plus {t['n_drills']} single-step arithmetic drills: {t['global_step']} steps, "
            f"{_fmt(t['train_runtime_s'])} s, {t['tokens_seen']} tokens. Checkpoint: `{t['prm']}`.")  # fmt: skip
    sections.append(Section("Training", text, figs))
    # evaluation
    for name, title in (
        ("arith", "ProcessBench: arithmetic world"),
        ("gsm8k", "ProcessBench: GSM8K-perturb"),
    ):
        if name not in r["evaluate"]:
            continue
        res = json.loads((run.dir("evaluate") / f"{name}_processbench.json").read_text(encoding="utf-8"))
        for s in sections_for(res):
            s.title = title
            sections.append(s)
        sections += [
            Section(f"Calibration: {name}", s.markdown, s.figures) for s in sections_for(res["calibration"])
        ]
    # best-of-N curves from the best-of-N candidates
    bon = read_results(run.dir("search") / "best-of-n.jsonl")
    pool = [PoolProblem(res.problem_id, res.candidates[0].problem if res.candidates else "",
                        [PoolSolution(c.scores, c.answer, _correct(c), list(c.steps)) for c in res.candidates])
            for res in bon if res.candidates]  # fmt: skip
    bres = evaluate_bon(pool, aggregations=(cfg.agg, "last", "prod"), seeds=5)
    sections += sections_for(bres)
    # search
    sr = r["search"]
    acc = sr["accuracy"]
    rows = ["| method | accuracy | generated tokens / problem |", "|---|---|---|"]
    for k, label in (("best_of_n", f"best-of-{sr['n']} (PRM, {cfg.agg})"), ("majority", "majority vote"),
                     ("weighted_vote", "PRM-weighted vote"), ("beam", f"beam search ({sr['n']} beams, width "
                     f"{cfg.beam_width})"), ("first_sample", "one sample"), ("oracle", "oracle")):  # fmt: skip
        tok = sr["tokens"]["beam"] if k == "beam" else (sr["tokens"]["best_of_n"] / sr["n"] if k == "first_sample"
                                                          else sr["tokens"]["best_of_n"])  # fmt: skip
        rows.append(f"| {label} | {100 * acc[k]:.1f}% | {tok:.0f} |")
    series = {"best-of-N (PRM)": [(sr["tokens"]["best_of_n"], acc["best_of_n"])],
              "majority vote": [(sr["tokens"]["best_of_n"], acc["majority"])],
              "beam (PRM)": [(sr["tokens"]["beam"], acc["beam"])],
              "one sample": [(sr["tokens"]["best_of_n"] / sr["n"], acc["first_sample"])]}  # fmt: skip
    svg = accuracy_vs_tokens_svg(series)
    sections.append(Section("Search", f"{sr['n_problems']} held-out problems, `arith` policy (error rate "
                            f"{cfg.error_rate}), the trained PRM as scorer.\n\n" + "\n".join(rows),
                            [Figure("search_accuracy_vs_tokens", svg, "accuracy vs generated tokens")]))  # fmt: skip
    sections.append(Section("Next steps", "- `prmkit label`, `prmkit train`, `prmkit eval`, `prmkit search` run each "
                            "stage alone on the files in this directory; see docs/quickstart.md."))  # fmt: skip
    path = Path(cfg.out) / "report.html"
    from prmkit.evaluate.common import versions

    build_report(sections, path, title="prmkit quickstart", meta={"config": summary["config"], "versions": versions(),
                                                                 "stage_keys": run.keys})  # fmt: skip
    (d / "report_path.txt").write_text(str(path) + "\n", encoding="utf-8")
    return {"path": str(path)}
