"""The summary (``summary.json``), its Markdown table and the HTML report of ``prmkit quickstart``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from prmkit.evaluate.plots import plot_lines
from prmkit.evaluate.report import Section, build_report, sections_for
from prmkit.quickstart.cache import StageCache
from prmkit.quickstart.config import QuickstartConfig

#: the floors the demo checks (issue #17): F1 on the bench, best-of-N minus majority (points)
F1_TARGET = 80.0
BON_MARGIN = 3.0
BASE_ACC_TARGET = 95.0


def _fmt(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def base_model_info(base: str) -> dict[str, Any] | None:
    """The recipe of the base LM (held-out result-digit accuracy per operation), when it has one."""
    from prmkit.models.packaged import resolve_model

    p = Path(resolve_model(base)) / "recipe.json"
    if not p.is_file():
        return None
    r = json.loads(p.read_text(encoding="utf-8"))
    return {"path": str(p.parent), "accuracy": r["held_out"]["acc"], "count": r["held_out"]["count"],
            "n_params": r.get("n_params"), "steps": r.get("steps"), "train_seconds": r.get("train_seconds")}  # fmt: skip


def build_summary(cfg: QuickstartConfig, cache: StageCache) -> dict[str, Any]:
    """The run's numbers and its checks, as written to ``summary.json``."""
    r = cache.results
    ev = r["evaluate"]
    s = r["search"]
    base = base_model_info(cfg.base) if cfg.base != "tiny" else None
    f1 = {name: ev[name]["arith"]["f1"] for name in ev}
    acc = s["accuracy"]
    checks = {
        "base_lm_95": base is not None and all(100 * v >= BASE_ACC_TARGET for v in base["accuracy"].values()),
        "prm_f1_80": f1["prm"] >= F1_TARGET,
        "prm_beats_calculator": f1["prm"] > f1["calculator"],
        "bon_beats_majority_by_3": 100 * acc["diff"] >= BON_MARGIN and s["diff_ci95"][0] > 0,
    }
    return {
        "out": cfg.out,
        "mode": "tiny" if cfg.tiny else "full",
        "config": dataclasses.asdict(cfg),
        "base_model": base,
        "labelling": {m: {k: r[f"label-{m}"][k] for k in ("n", "step_accuracy", "coverage", "f1", "rollouts",
                                                            "rollouts_per_solution")} for m in ("mc", "binary")},
        "train": {st: {k: r[st][k] for k in ("prm", "label_source", "format", "global_step", "train_runtime_s")}
                  for st in ("train", "train-exact") if st in r},
        "processbench": {name: ev[name]["arith"] for name in ev},
        "gsm8k": ev["prm"].get("gsm8k"),
        "search": {k: s[k] for k in ("n", "n_problems", "n_tune", "tuning", "chosen", "accuracy", "diff_ci95",
                                     "tokens", "curves")} | ({"beam": s["beam"]} if "beam" in s else {}),
        "checks": checks,
    }  # fmt: skip


#: why a check can fail, printed under the table when it does
_EXPLAIN = {
    "base_lm_95": "the base LM does not predict every operation's result digits reliably: the PRM cannot "
    "learn to check what its base model cannot compute (pretrain longer: `prmkit world arith pretrain`).",
    "prm_f1_80": "the PRM misses first errors or flags correct steps (see acc err / acc corr in the "
    "ProcessBench section): more training steps or cleaner labels (compare the exact-label PRM).",
    "prm_beats_calculator": "the calculator catches every arithmetic slip; a PRM beats it only when it "
    "also catches wrong operands, operations and skipped steps.",
    "bon_beats_majority_by_3": "best-of-N with the PRM is not clearly above majority vote: the interval "
    "of the difference includes values below 3 points (too few problems, or the PRM ranks poorly).",
}


def summary_markdown(summary: dict[str, Any], timing: dict[str, dict[str, Any]] | None = None) -> str:
    """The summary table (Markdown) printed at the end of a run and shown first in the report.

    Example:
        >>> s = {"mode": "tiny", "base_model": None, "labelling": {"mc": {"n": 2, "step_accuracy": 90.0,
        ...      "f1": 70.0, "rollouts": 10, "rollouts_per_solution": 2.0}},
        ...      "processbench": {"prm": {"f1": 85.0, "n": 10}, "calculator": {"f1": 60.0, "n": 10}},
        ...      "search": {"n": 4, "n_problems": 3, "chosen": {"agg": "min", "rule": "best_of_n"},
        ...      "accuracy": {"prm": 1.0, "majority": 0.5, "diff": 0.5, "pass_at_n": 1.0, "one_sample": 0.3},
        ...      "diff_ci95": [0.2, 0.8], "tokens": {"best_of_n": 100.0}},
        ...      "checks": {"prm_f1_80": True, "bon_beats_majority_by_3": True}}
        >>> md = summary_markdown(s)
        >>> md.count("| PASS |"), "FAIL" in md
        (2, False)
    """

    def mark(key: str) -> str:  # a check the summary does not hold (not run) is left blank
        return "" if key not in s["checks"] else "PASS" if s["checks"][key] else "FAIL"

    s = summary
    lines = [
        f"## Summary ({s['mode']} mode)",
        "",
        "| measure | value | target | check |",
        "|---|---|---|---|",
    ]
    base = s.get("base_model")
    if base:
        accs = ", ".join(f"`{op}` {100 * v:.1f}%" for op, v in base["accuracy"].items())
        lines.append(f"| base LM result-digit accuracy (held out) | {accs} | >= {BASE_ACC_TARGET:.0f}% each "
                     f"| {mark('base_lm_95')} |")  # fmt: skip
    for m, lab in s["labelling"].items():
        name = "Monte Carlo" if m == "mc" else "binary search"
        lines.append(f"| label accuracy, {name} (n={lab['n']}) | {_fmt(lab['step_accuracy'])}% "
                     f"(F1 {_fmt(lab['f1'])}, {_fmt(lab['rollouts_per_solution'])} rollouts/solution) | | |")  # fmt: skip
    pb = s["processbench"]
    n = pb["prm"]["n"]
    lines.append(f"| PRM first-error F1 ({n} bench solutions) | {_fmt(pb['prm']['f1'])} | >= {F1_TARGET:.0f} "
                 f"| {mark('prm_f1_80')} |")  # fmt: skip
    if "prm-exact" in pb:
        lines.append(f"| F1 of the same PRM trained on exact labels | {_fmt(pb['prm-exact']['f1'])} | | |")
    lines.append(f"| calculator first-error F1 | {_fmt(pb['calculator']['f1'])} | < PRM | "
                 f"{mark('prm_beats_calculator')} |")  # fmt: skip
    if "oracle" in pb:
        lines.append(f"| oracle first-error F1 (exact checker) | {_fmt(pb['oracle']['f1'])} | | |")
    sr = s["search"]
    a = sr["accuracy"]
    ch = sr["chosen"]
    lo, hi = sr["diff_ci95"]
    lines += [
        f"| best-of-{sr['n']} with the PRM ({ch['agg']}, {ch['rule']}; {sr['n_problems']} problems) | "
        f"{_pct(a['prm'])} | | |",
        f"| majority vote of {sr['n']} | {_pct(a['majority'])} | | |",
        f"| PRM minus majority (95% bootstrap interval) | {100 * a['diff']:+.1f} [{100 * lo:+.1f}, "
        f"{100 * hi:+.1f}] points | >= +{BON_MARGIN:.0f}, interval > 0 | {mark('bon_beats_majority_by_3')} |",
        f"| pass@{sr['n']} (any sample right) | {_pct(a['pass_at_n'])} | | |",
        f"| one sample | {_pct(a['one_sample'])} | | |",
    ]
    if sr.get("tokens"):
        beam_tok = f", beam search {sr['beam']['tokens']:.0f}" if sr.get("beam") else ""
        lines.append(f"| compute: generated tokens per problem | best-of-{sr['n']} {sr['tokens']['best_of_n']:.0f}"
                     f"{beam_tok} | | |")  # fmt: skip
    if sr.get("beam"):
        b = sr["beam"]
        lines.append(f"| beam search ({sr['n']} beams; first {b['n_problems']} problems) | {_pct(b['accuracy'])} "
                     f"(best-of-N {_pct(b['best_of_n_same_problems'])}, majority "
                     f"{_pct(b['majority_same_problems'])} on them) | | |")  # fmt: skip
    fails = [k for k, v in s["checks"].items() if not v]
    if fails:
        lines += ["", "Failed checks:", ""] + [f"- **{k}**: {_EXPLAIN.get(k, '')}" for k in fails]
    if timing:
        lines += ["", "| stage | wall seconds | CPU seconds | reused |", "|---|---|---|---|"]
        for st, t in timing.items():
            lines.append(f"| {st} | {t['seconds']:.1f} | {_fmt(t.get('cpu_seconds'))} | "
                         f"{'yes' if t['reused'] else 'no'} |")  # fmt: skip
        tot = sum(t["seconds"] for t in timing.values() if not t["reused"])
        lines.append(f"| **total (stages run now)** | {tot:.1f} | | |")
    return "\n".join(lines) + "\n"


def build_html(cfg: QuickstartConfig, cache: StageCache, summary: dict[str, Any], d: Path) -> dict[str, Any]:
    """The report stage: every plot and table in one self-contained HTML page."""
    r = cache.results
    sections = [Section("Summary", summary_markdown(summary, cache.timing))]
    rows = ["| method | rollouts / estimate | rollouts | rollouts / solution | step accuracy | coverage | "
            "first-error F1 |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for m in ("mc", "binary"):
        x = r[f"label-{m}"]
        rows.append(f"| {'Monte Carlo' if m == 'mc' else 'binary search'} | {x['n']} | {x['rollouts']} | "
                    f"{_fmt(x['rollouts_per_solution'])} | {_fmt(x['step_accuracy'])}% | {_fmt(x['coverage'])}% | "
                    f"{_fmt(x['f1'])} |")  # fmt: skip
    sections.append(Section("Labelling", "Labels of the policy's own samples against the world's exact checker. "
                            "Step accuracy counts the steps the truth defines (up to and including the first "
                            "error).\n\n" + "\n".join(rows)))  # fmt: skip
    figs = []
    for st in ("train", "train-exact"):
        if st in r and r[st]["losses"]:
            figs.append(plot_lines({f"{r[st]['label_source']} labels": [tuple(x) for x in r[st]["losses"]]},
                                   f"{st}_loss", "optimizer step", "training loss"))  # fmt: skip
    base = summary.get("base_model")
    rows = ["| PRM | labels | format | trained on | seconds |", "|---|---|---|---|---|"]
    for st in ("train", "train-exact"):
        if st in r:
            x = r[st]
            what = (
                f"{x['steps_fitted']} labelled steps"
                if x.get("steps_fitted")
                else f"{x['global_step']} optimizer steps"
            )
            rows.append(
                f"| `{st}` | {x['label_source']} | `{x['format']}` | {what} | {_fmt(x['train_runtime_s'])} |"
            )
    text = (f"PRMs built from `{cfg.base}`"
            + (f" ({base['n_params'] / 1e6:.2f}M parameters, pretrained by `prmkit world arith pretrain`: "
               + ", ".join(f"`{op}` {100 * v:.1f}%" for op, v in base["accuracy"].items())
               + " held-out result-digit accuracy)" if base and base.get("n_params") else "")
            + ". An `lm-likelihood` PRM scores a step from the base LM's probabilities of the step's own "
            "tokens (a logistic head fitted on the labels); see docs/training.md.\n\n" + "\n".join(rows))  # fmt: skip
    sections.append(Section("Training", text, figs))
    rows = [
        "| scorer | first-error F1 | acc err | acc corr | step AUROC | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in summary["processbench"].items():
        rows.append(f"| {name} | {_fmt(m['f1'])} | {_fmt(m['acc_err'])} | {_fmt(m['acc_corr'])} | "
                    f"{_fmt(m['auroc'], 3)} | {_fmt(m['ece'], 3)} |")  # fmt: skip
    sections.append(Section("ProcessBench: arithmetic world", "\n".join(rows)))
    res = json.loads(Path(r["evaluate"]["prm"]["arith"]["result"]).read_text(encoding="utf-8"))
    for s in sections_for(res):
        s.title = f"PRM on the arithmetic bench: {s.title}"
        sections.append(s)
    sr = r["search"]
    tok1 = sr["tokens"]["best_of_n"] / sr["n"]
    series = {f"PRM ({sr['chosen']['agg']}, {sr['chosen']['rule']})": [(k * tok1, a) for k, a in sr["curves"]["prm"]],
              "majority vote": [(k * tok1, a) for k, a in sr["curves"]["majority"]]}  # fmt: skip
    if sr.get("beam"):
        series["beam search (PRM)"] = [(sr["beam"]["tokens"], sr["beam"]["accuracy"])]
    tuning = "\n".join(f"| {k} | {_pct(v)} |" for k, v in sr["tuning"].items())
    text = (f"Answer rule chosen on {sr['n_tune']} tuning problems (accuracy with N={sr['n']}):\n\n"
            f"| aggregation / rule | tuning accuracy |\n|---|---|\n{tuning}\n\n"
            f"Held-out: {sr['n_problems']} problems, `arith` policy with error rate {cfg.search_error_rate} "
            "(a weaker policy than the one labelled for training, so that majority vote is not saturated). "
            "The curve takes the first k of the N samples of each problem.")  # fmt: skip
    fig = plot_lines(series, "search_accuracy_vs_tokens", "mean generated tokens per problem", "accuracy",
                     logx=True, ylim=(0.0, 1.0))  # fmt: skip
    sections.append(Section("Search", text, [fig]))
    path = Path(cfg.out) / "report.html"
    from prmkit.runs import versions

    build_report(sections, path, title="prmkit quickstart",
                 meta={"config": summary["config"], "versions": versions(), "stage_keys": cache.keys})  # fmt: skip
    return {"path": str(path)}
