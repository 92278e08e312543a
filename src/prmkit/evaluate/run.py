"""End-to-end evaluation runs: one config dataclass per command, one function that loads the
data, scores it (a PRM or precomputed scores), computes metrics and writes the outputs.

Outputs in ``cfg.out``: ``results.json`` (config, versions, seed, SHA-256 of the input files,
results) and ``report.html`` (self-contained, inline SVG plots). The Markdown summary is returned
(the CLI prints it on stdout).

Example (not run as a doctest: reads the reference data):
    from prmkit.evaluate.run import BonConfig, run_bon
    outcome = run_bon(BonConfig(pool="../shared/data/bon/math_cot_100.jsonl", out="runs/bon"))
    print(outcome.markdown)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prmkit.config import check_finite, check_min, check_range
from prmkit.errors import PrmkitError
from prmkit.records import check_input_file
from prmkit.runs import run_metadata


def _h(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class ProcessBenchConfig:
    prm: str | None = field(default=None, metadata=_h("PRM checkpoint path (scored with --format)"))
    format: str | None = field(
        default=None, metadata=_h("scorer family (prmkit.scorers); default: prmkit.json")
    )
    scores: str | None = field(default=None, metadata=_h("precomputed scores JSONL instead of a PRM"))
    data: str | None = field(
        default=None, metadata=_h("directory with <subset>.json, or the Hub id Qwen/ProcessBench")
    )
    subsets: list[str] | None = field(default=None, metadata=_h("subsets (default: all four)"))
    threshold: float = field(default=0.5, metadata=_h("fixed threshold: first step with score < threshold"))
    tune_on: str | None = field(default="gsm8k", metadata=_h("subset to tune the threshold on"))
    n_grid: int = field(default=10001, metadata=_h("thresholds in the tuning grid over [0, 1]"))
    batch_size: int = field(default=16, metadata=_h("scoring batch size"))
    limit: int | None = field(
        default=None, metadata=_h("N evenly spaced records per subset (smoke tests; recorded)")
    )
    out: str | None = field(
        default=None,
        metadata=_h(
            "output directory (default: beside --scores as <its name>.processbench/, else runs/eval/processbench)"
        ),
    )

    def __post_init__(self) -> None:
        check_min(self, 2, "n_grid")
        check_min(self, 1, "batch_size", "limit")
        check_finite(self, "threshold")


@dataclass
class PRMBenchConfig:
    prm: str | None = field(default=None, metadata=_h("PRM checkpoint path (scored with --format)"))
    format: str | None = field(default=None, metadata=_h("scorer family; default: prmkit.json"))
    scores: str | None = field(
        default=None, metadata=_h("precomputed canonical records with scores, labels, meta.classification")
    )
    data: str | None = field(default=None, metadata=_h("directory of PRMBench *.jsonl files"))
    pattern: str = field(default="*.jsonl", metadata=_h("file glob inside --data"))
    threshold: float = field(default=0.5, metadata=_h("a step is valid iff its score > threshold"))
    weights: list[float] = field(
        default_factory=lambda: [0.5, 0.5],
        metadata={
            "help": "negative-F1 and F1 weights of PRMScore (repeat; unverified default)",
            "flag": "--weight",
        },
    )
    batch_size: int = field(default=16, metadata=_h("scoring batch size"))
    limit: int | None = field(default=None, metadata=_h("N evenly spaced instances (smoke runs; recorded)"))
    out: str | None = field(
        default=None,
        metadata=_h(
            "output directory (default: beside --scores as <its name>.prmbench/, else runs/eval/prmbench)"
        ),
    )

    def __post_init__(self) -> None:
        check_min(self, 1, "batch_size", "limit")
        check_finite(self, "threshold")
        if len(self.weights) != 2 or not all(0 <= w < float("inf") for w in self.weights):
            raise PrmkitError(f"must be two weights >= 0, got {self.weights}", field="weights")


@dataclass
class BonConfig:
    pool: str = field(default="", metadata=_h("pool JSONL (Qwen2.5-Math eval format or canonical records)"))
    prm: str | None = field(default=None, metadata=_h("re-score the pool with this PRM"))
    format: str | None = field(default=None, metadata=_h("scorer family for --prm; default: prmkit.json"))
    aggregations: list[str] = field(
        default_factory=lambda: ["min", "prod", "last", "mean", "geometric"],
        metadata={"help": "step aggregations (repeat or comma-separate)", "flag": "--agg"},
    )
    rules: list[str] = field(
        default_factory=lambda: ["best_of_n", "majority", "weighted_vote", "hmrv", "wrfv"],
        metadata={"help": "answer rules (repeat or comma-separate)", "flag": "--rule"},
    )
    ns: list[int] | None = field(
        default=None, metadata={"help": "N values (repeat; default 1, 2, 4, ..., N_max)", "flag": "--n"}
    )
    seeds: int = field(default=10, metadata=_h("random subsets per N"))
    transform: str = field(
        default="auto", metadata=_h("auto | none | sigmoid (auto: sigmoid if a score is outside [0, 1])")
    )
    none: str = field(default="skip", metadata=_h("None step scores: skip | error | a number"))
    hmrv_tau: float = field(default=0.5, metadata=_h("HMRV consensus threshold (unverified default)"))
    wrfv_w: float = field(default=0.5, metadata=_h("WRFV reward weight (unverified default)"))
    batch_size: int = field(default=16, metadata=_h("scoring batch size"))
    out: str | None = field(
        default=None,
        metadata=_h("output directory (default: beside --pool as <its name>.bon/, else runs/eval/bon)"),
    )

    def __post_init__(self) -> None:
        check_min(self, 1, "seeds", "batch_size")
        check_range(self, 0.0, 1.0, "hmrv_tau", "wrfv_w")
        if self.ns is not None and (not self.ns or min(self.ns) < 1):
            raise PrmkitError(f"N values must be >= 1, got {self.ns}", field="ns")


@dataclass
class CalibrationConfig:
    scores: str = field(default="", metadata=_h("canonical records with scores and labels"))
    n_bins: int = field(default=10, metadata=_h("equal-width bins"))
    fit_quantiles: str | None = field(
        default=None, metadata=_h("fit a quantile calibrator and write it here (JSON)")
    )
    quantiles: list[float] = field(
        default_factory=lambda: [0.1, 0.5, 0.9],
        metadata={"help": "quantile levels (repeat)", "flag": "--quantile"},
    )
    out: str | None = field(
        default=None,
        metadata=_h(
            "output directory (default: beside --scores as <its name>.calibration/, else runs/eval/calibration)"
        ),
    )

    def __post_init__(self) -> None:
        check_min(self, 1, "n_bins")
        if not self.quantiles or not all(0 < q < 1 for q in self.quantiles):
            raise PrmkitError(f"quantile levels must be in (0, 1), got {self.quantiles}", field="quantiles")


@dataclass
class PairwiseConfig:
    pairs: str | None = field(
        default=None,
        metadata=_h("pairwise tool-call cases (format tool-pairs), scored with --prm / --format"),
    )
    prm: str | None = field(default=None, metadata=_h("PRM checkpoint path (scored with --format)"))
    format: str | None = field(default=None, metadata=_h("scorer family; default: prmkit.json"))
    scores: str | None = field(
        default=None,
        metadata=_h(
            "precomputed: canonical records of both sides of each case with scores (meta.pair, meta.side)"
        ),
    )
    batch_size: int = field(default=16, metadata=_h("scoring batch size"))
    n_boot: int = field(default=2000, metadata=_h("bootstrap resamples for the confidence interval"))
    seed: int = field(default=0, metadata=_h("bootstrap seed"))
    out: str | None = field(
        default=None,
        metadata=_h(
            "output directory (default: beside the input as <its name>.pairwise/, else runs/eval/pairwise)"
        ),
    )

    def __post_init__(self) -> None:
        check_min(self, 1, "batch_size", "n_boot")
        check_min(self, 0, "seed")  # numpy's bootstrap generator takes seeds >= 0


def default_out(cfg: Any) -> str:
    """``cfg.out``, or the default: beside the input file (``runs/x/scored.jsonl`` ->
    ``runs/x/scored.processbench/``) when the run reads one, else ``runs/eval/<kind>``.

    Example:
        >>> default_out(CalibrationConfig(scores="runs/x/scored.jsonl"))
        'runs/x/scored.calibration'
    """
    if cfg.out:
        return cfg.out
    kind = {ProcessBenchConfig: "processbench", PRMBenchConfig: "prmbench", BonConfig: "bon",
            CalibrationConfig: "calibration", PairwiseConfig: "pairwise"}[type(cfg)]  # fmt: skip
    src = getattr(cfg, "pool", None) or getattr(cfg, "scores", None) or getattr(cfg, "pairs", None)
    if src:
        p = Path(src)
        return str(p.parent / f"{p.name.split('.')[0]}.{kind}")
    return f"runs/eval/{kind}"


@dataclass
class EvalOutcome:
    """What a run produced: the result dict, its Markdown summary and the written files."""

    result: dict[str, Any]
    markdown: str
    results_path: Path
    report_path: Path


def _scorer(cfg: Any) -> Any:
    from prmkit.scorers import load_scorer

    return load_scorer(cfg.format, cfg.prm)


def _evenly(items: list[Any], limit: int) -> list[Any]:
    """``limit`` evenly spaced items (the files are sorted by label or category: a prefix would
    hold only one kind)."""
    if limit < 1:
        raise PrmkitError("limit must be >= 1", field="limit")
    if limit >= len(items):
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _source_check(cfg: Any) -> None:
    has_model = cfg.prm is not None or cfg.format is not None
    if (cfg.scores is not None) == has_model:
        raise PrmkitError(
            "give either --prm PATH / --format NAME (a PRM) or --scores FILE (precomputed), not both"
        )


def _finish(
    result: dict[str, Any], markdown: str, cfg: Any, files: list[Path], seed: int | None, title: str
) -> EvalOutcome:
    from prmkit.evaluate.common import write_json
    from prmkit.evaluate.report import build_report, sections_for

    meta = run_metadata(cfg, seed=seed, data_files=files)
    out = Path(default_out(cfg))
    rp = write_json(out / "results.json", {"meta": meta, "results": result})
    hp = out / "report.html"
    build_report(sections_for(result), hp, title=title, meta=meta)
    return EvalOutcome(result, markdown, rp, hp)


def _step_calibration(recs: list[Any]) -> dict[str, Any] | None:
    from prmkit.evaluate.calibration import evaluate_calibration

    ps, ys = [], []
    for r in recs:
        if r.scores is None or r.labels is None:
            continue
        for s, y in zip(r.scores, r.labels, strict=True):
            if s is not None and y is not None:
                ps.append(s)
                ys.append(y)
    return evaluate_calibration(ps, ys) if ps else None


def run_processbench(cfg: ProcessBenchConfig) -> EvalOutcome:
    """ProcessBench with a PRM (``prm``/``format``) or precomputed ``scores``; both threshold policies."""
    from prmkit.evaluate import processbench as pb

    _source_check(cfg)
    files: list[Path] = []
    if cfg.scores is not None:
        check_input_file(cfg.scores)
        data = pb.read_scored(cfg.scores, cfg.subsets)
        files.append(Path(cfg.scores))
    else:
        data = pb.load_processbench(cfg.data, cfg.subsets)
        if not any(data.values()):  # checked before the PRM loads
            raise PrmkitError("no records in any subset", file=str(cfg.data))
        if cfg.limit is not None:
            data = {k: _evenly(v, cfg.limit) for k, v in data.items()}
        root = Path(cfg.data) if cfg.data else None
        if root is not None and root.is_dir():
            files += [root / f"{s}.json" for s in data if (root / f"{s}.json").is_file()]
        scorer = _scorer(cfg)
        try:
            data = pb.score_processbench(scorer, data, cfg.batch_size)
        finally:
            scorer.close()
    result = pb.evaluate_processbench(data, cfg.threshold, cfg.tune_on, cfg.n_grid)
    cal = _step_calibration([r for recs in data.values() for r in recs])
    if cal is not None:
        result["calibration"] = cal
    return _finish(result, pb.processbench_markdown(result), cfg, files, None, "prmkit: ProcessBench")


def run_prmbench(cfg: PRMBenchConfig) -> EvalOutcome:
    """PRMBench F1 / negative F1 / PRMScore (weights unverified) with a PRM or precomputed scores."""
    from prmkit.evaluate import prmbench as pm

    _source_check(cfg)
    if len(cfg.weights) != 2:
        raise PrmkitError("weights must be two numbers: negative-F1 weight, F1 weight", field="weights")
    files: list[Path] = []
    if cfg.scores is not None:
        check_input_file(cfg.scores)
        recs = pm.read_scored(cfg.scores)
        files.append(Path(cfg.scores))
    else:
        recs = pm.load_prmbench(cfg.data, cfg.pattern)
        if not recs:  # checked before the PRM loads
            raise PrmkitError(f"no records in the files matching {cfg.pattern!r}", file=str(cfg.data))
        if cfg.limit is not None:
            recs = _evenly(recs, cfg.limit)
        from prmkit.progress import track

        scorer = _scorer(cfg)
        try:
            recs = list(
                track(
                    scorer.score_records(iter(recs), cfg.batch_size), total=len(recs), description="scoring"
                )
            )
        finally:
            scorer.close()
    result = pm.evaluate_prmbench(recs, cfg.threshold, (float(cfg.weights[0]), float(cfg.weights[1])))
    cal = _step_calibration(recs)
    if cal is not None:
        result["calibration"] = cal
    return _finish(result, pm.prmbench_markdown(result), cfg, files, None, "prmkit: PRMBench")


def run_bon(cfg: BonConfig) -> EvalOutcome:
    """Best-of-N curves for every aggregation and answer rule, both subsampling protocols."""
    from prmkit.evaluate import bon
    from prmkit.evaluate.calibration import evaluate_calibration

    if not cfg.pool:
        raise PrmkitError("--pool is required", field="pool")
    none: str | float = cfg.none
    if none not in ("skip", "error"):
        try:
            none = float(none)
        except ValueError:
            raise PrmkitError(
                f"none must be skip, error or a number, got {cfg.none!r}", field="none"
            ) from None
    check_input_file(cfg.pool)
    pool = bon.load_pool(cfg.pool)  # read (and checked) before the PRM loads
    if cfg.prm is not None or cfg.format is not None:
        scorer = _scorer(cfg)
        try:
            pool = bon.score_pool(scorer, pool, cfg.batch_size)
        finally:
            scorer.close()
    params = {"hmrv": {"tau": cfg.hmrv_tau}, "wrfv": {"w": cfg.wrfv_w}}
    result = bon.evaluate_bon(
        pool, cfg.aggregations, cfg.rules, cfg.ns, cfg.seeds, cfg.transform, none, params
    )
    ss = result["solution_scores"]
    vals = ss["correct"] + ss["wrong"]
    if vals and all(0.0 <= v <= 1.0 for v in vals):
        result["calibration"] = evaluate_calibration(
            vals, [1.0] * len(ss["correct"]) + [0.0] * len(ss["wrong"])
        )
        result["calibration"]["of"] = f"solution score ({ss['aggregation']}) vs correctness"
    md = bon.bon_markdown(result, "random") + "\n" + bon.bon_markdown(result, "prefix")
    if "calibration" in result:
        c = result["calibration"]
        md += f"\nsolution-score calibration ({ss['aggregation']}): ECE {c['ece']:.4f}, Brier {c['brier']:.4f}\n"
    return _finish(result, md, cfg, [Path(cfg.pool)], 0, "prmkit: Best-of-N")


def run_calibration(cfg: CalibrationConfig) -> EvalOutcome:
    """ECE / Brier / reliability of step scores vs labels; optionally fit a quantile calibrator."""
    from prmkit.evaluate.calibration import QuantileCalibrator, calibration_markdown, evaluate_calibration
    from prmkit.records import read_records

    if not cfg.scores:
        raise PrmkitError("--scores is required", field="scores")
    check_input_file(cfg.scores)
    ps: list[float] = []
    ys: list[float] = []
    for i, r in enumerate(read_records(cfg.scores), start=1):
        if r.scores is None or r.labels is None:
            raise PrmkitError("needs scores and labels", file=cfg.scores, line=i, field="scores")
        for s, y in zip(r.scores, r.labels, strict=True):
            if s is not None and y is not None:
                ps.append(s)
                ys.append(y)
    result = evaluate_calibration(ps, ys, cfg.n_bins)
    md = calibration_markdown(result)
    if cfg.fit_quantiles:
        cal = QuantileCalibrator.fit(ps, ys, cfg.quantiles, cfg.n_bins)
        cal.save(cfg.fit_quantiles)
        result["quantile_calibrator"] = {
            "path": cfg.fit_quantiles,
            "pinball_loss": cal.loss(ps, ys),
            **cal.to_dict(),
        }
        md += f"- quantile calibrator {cfg.quantiles} written to {cfg.fit_quantiles} (pinball loss {cal.loss(ps, ys):.4f})\n"
    return _finish(result, md, cfg, [Path(cfg.scores)], None, "prmkit: calibration")


def run_pairwise(cfg: PairwiseConfig) -> EvalOutcome:
    """Pairwise accuracy on tool-call cases (:mod:`prmkit.evaluate.pairwise`): a PRM scores both
    continuations of each case (``--pairs`` + ``--prm``/``--format``), or ``--scores`` holds them."""
    from prmkit.evaluate import pairwise as pw
    from prmkit.formats import read_solutions

    if (cfg.scores is None) == (cfg.pairs is None):
        raise PrmkitError("give either --pairs FILE (with a PRM) or --scores FILE (precomputed), not both")
    src = cfg.scores if cfg.scores is not None else cfg.pairs
    assert src is not None
    check_input_file(src)
    if cfg.scores is not None:
        if cfg.prm is not None or cfg.format is not None:
            raise PrmkitError("--scores is precomputed: drop --prm / --format")
        recs = list(read_solutions(cfg.scores, "canonical"))
    else:
        if cfg.prm is None and cfg.format is None:
            raise PrmkitError("--pairs needs a PRM: --prm PATH and/or --format NAME")
        recs = list(read_solutions(cfg.pairs, "tool-pairs"))  # read (and checked) before the PRM loads
        from prmkit.progress import track

        scorer = _scorer(cfg)
        try:
            recs = list(
                track(
                    scorer.score_records(iter(recs), cfg.batch_size), total=len(recs), description="scoring"
                )
            )
        finally:
            scorer.close()
    result = pw.evaluate_pairs(recs, n_boot=cfg.n_boot, seed=cfg.seed)
    return _finish(
        result, pw.pairwise_markdown(result), cfg, [Path(src)], cfg.seed, "prmkit: pairwise accuracy"
    )


CONFIGS = {
    "processbench": ProcessBenchConfig,
    "prmbench": PRMBenchConfig,
    "bon": BonConfig,
    "calibration": CalibrationConfig,
    "pairwise": PairwiseConfig,
}
