"""Real-text benchmark: GSM8K reference solutions with one injected calculation error.

Each GSM8K ``answer`` is split into steps, one per line. The ``#### N`` line is dropped and the
final answer kept as a last step ``The answer is N.``. In about ``rate`` of the solutions one
calculator result is changed at a random step: the ``<<a*b=c>>`` annotation and the visible
number after it get the wrong value, and later calculator expressions that use the value are
recomputed from it (their visible numbers too), so the error is carried forward as a model
would carry it, down to the final answer. The perturbed step's equation is false; every
earlier annotation is true. Calculator annotations are stripped from the step text by default
and kept, per step and after perturbation, in ``meta["calc_tags"]``.

Records are canonical Solutions in ProcessBench shape: ``labels`` 1 before the first error, 0
at it, ``None`` after (``first_error`` is the perturbed step, -1 none); ``meta["correct"]`` (the
final answer still equals the reference answer).

Example:
    >>> rec = perturb_record("Tom has 3 bags of 4 apples. He eats 2. How many are left?",
    ...     "He has 3*4=<<3*4=12>>12 apples.\\nHe has 12-2=<<12-2=10>>10 left.\\n#### 10",
    ...     force=True, seed=0, step=0)
    >>> rec.first_error, rec.labels, rec.steps[0] != "He has 3*4=12 apples."
    (0, [0.0, None, None], True)
    >>> rec.meta["calc_tags"][1][0].startswith(rec.meta["injected"]["wrong"] + "-2=")
    True
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from prmkit.config import check_choice, check_min, check_range
from prmkit.errors import PrmkitError
from prmkit.records import (
    META_CORRECT,
    META_GENERATOR,
    Solution,
    check_input_file,
    iter_json_lines,
    labels_from_first_error,
    write_records,
)
from prmkit.worlds.arith_parse import Number, evaluate_expression, format_number, parse_number

_TAG_RE = re.compile(r"<<([^<>]*)>>")
_AFTER_RE = re.compile(r"\s*\$?\s*(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")
_NUM_RE = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\d])")
_DELTAS = (1, -1, 2, -2, 3, -3, 5, -5, 10, -10, 4, -4)


def _close(a: Number | None, b: Number | None, tol: float = 0.051) -> bool:
    """Equal up to the rounding GSM8K annotations use (``10/3=3.33``, one or two decimals);
    injected errors change a value by at least 1."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    return abs(float(a) - float(b)) <= tol


def tag_parts(tag: str) -> tuple[str, Number | None, Number | None]:
    """``"48/2=24"`` -> (expression, its value, the stated result); values ``None`` if unparseable.

    Example:
        >>> tag_parts("48/2=24")
        ('48/2', 24, 24)
    """
    if "=" not in tag:
        return tag, None, None
    expr, _, res = tag.rpartition("=")
    return expr, evaluate_expression(expr), evaluate_expression(res)


def tag_is_true(tag: str) -> bool:
    """The annotation's expression evaluates to its stated result (up to GSM8K rounding)."""
    _, v, r = tag_parts(tag)
    return _close(v, r)


def _fmt_like(v: Number, like: str) -> str:
    s = format_number(_round2(v))
    if "," in like and "." not in s:
        s = f"{int(s):,}"
    return s


def _round2(v: Number) -> Number:
    if isinstance(v, int) or v.denominator == 1:
        return int(v)
    r = Fraction(round(v * 100), 100)
    return int(r) if r.denominator == 1 else r


def _subst_numbers(text: str, subs: dict[Number, Number]) -> tuple[str, bool]:
    """Replace whole numbers equal to a key of ``subs``; returns (text, changed)."""
    changed = False

    def rep(m: re.Match) -> str:
        nonlocal changed
        try:
            v = parse_number(m.group(1))
        except ValueError:
            return m.group(0)
        if v in subs:
            changed = True
            return _fmt_like(subs[v], m.group(1))
        return m.group(0)

    return _NUM_RE.sub(rep, text), changed


@dataclass
class _Line:
    """One step: text segments around its tags."""

    pieces: list[str]  # text between tags: len(tags) + 1
    tags: list[str]


def _split_line(line: str) -> _Line:
    pieces, tags, pos = [], [], 0
    for m in _TAG_RE.finditer(line):
        pieces.append(line[pos : m.start()])
        tags.append(m.group(1))
        pos = m.end()
    pieces.append(line[pos:])
    return _Line(pieces, tags)


def perturb_record(
    question: str,
    answer: str,
    *,
    seed: int = 0,
    rate: float = 0.5,
    rid: str = "gsm8k-0",
    force: bool | None = None,
    step: int | None = None,
    keep_tags: bool = False,
    source: dict[str, Any] | None = None,
) -> Solution:
    """One GSM8K record -> a Solution with (maybe) one injected error. ``force`` overrides ``rate``;
    ``step`` picks the step to perturb (else random among eligible ones)."""
    rng = random.Random(f"gsm8k-perturb:{seed}:{rid}")
    lines = [ln.strip() for ln in answer.split("\n")]
    final = None
    body: list[str] = []
    for ln in lines:
        if ln.startswith("####"):
            final = ln[4:].strip()
        elif ln:
            body.append(ln)
    if final is None:
        raise PrmkitError("no '#### N' final answer line", field="answer")
    steps = [_split_line(ln) for ln in body]
    want = rng.random() < rate if force is None else force
    first_error = -1
    injected: dict[str, Any] | None = None
    if want:
        cands: list[tuple[int, int]] = []
        for k, st in enumerate(steps):
            for m, tag in enumerate(st.tags):
                _, v, r = tag_parts(tag)
                after = _AFTER_RE.match(st.pieces[m + 1])
                if v is not None and r is not None and v == r and after and parse_number(after.group(1)) == r:
                    cands.append((k, m))
                if not tag_is_true(tag):
                    break  # no error may come before the injected one
            else:
                continue
            break
        if step is not None:
            cands = [c for c in cands if c[0] == step]
        if cands:
            k, m = cands[rng.randrange(len(cands))]
            injected = _inject(steps, k, m, rng)
            if injected is not None:
                first_error = k
                final_v = evaluate_expression(final)
                subs = injected.pop("_subs")
                if final_v is not None and final_v in subs:
                    final = _fmt_like(subs[final_v], final)
    texts = []
    for st in steps:
        if keep_tags:
            t = st.pieces[0] + "".join(f"<<{tag}>>{p}" for tag, p in zip(st.tags, st.pieces[1:], strict=True))
        else:
            t = "".join(st.pieces)
        texts.append(t)
    texts.append(f"The answer is {final}.")
    calc_tags = [list(st.tags) for st in steps] + [[]]
    orig_final = next(ln[4:].strip() for ln in lines if ln.startswith("####"))
    fv, ov = evaluate_expression(final), evaluate_expression(orig_final)
    fin_ok = final == orig_final or (fv is not None and fv == ov)
    return Solution(
        id=rid,
        problem=question,
        steps=texts,
        answer=final,
        reference_answer=orig_final,
        labels=labels_from_first_error(first_error, len(texts)),
        meta={
            META_CORRECT: bool(fin_ok),
            "perturbed": first_error >= 0,
            "injected": injected,
            "calc_tags": calc_tags,
            META_GENERATOR: "gsm8k-reference",
            **(source or {}),
        },
    )


def _inject(steps: list[_Line], k: int, m: int, rng: random.Random) -> dict[str, Any] | None:
    st = steps[k]
    expr, v, r = tag_parts(st.tags[m])
    assert r is not None
    deltas = list(_DELTAS)
    rng.shuffle(deltas)
    new = None
    for d in deltas:
        cand = r + d
        if cand != r and (cand >= 0 or r < 0):
            new = cand
            break
    if new is None:
        return None
    after = _AFTER_RE.match(st.pieces[m + 1])
    assert after is not None
    st.tags[m] = f"{expr}={format_number(new)}"
    a, b = after.span(1)
    st.pieces[m + 1] = st.pieces[m + 1][:a] + _fmt_like(new, after.group(1)) + st.pieces[m + 1][b:]
    subs: dict[Number, Number] = {r: new}
    # carry the wrong value forward through later calculator expressions
    for kk in range(k, len(steps)):
        s2 = steps[kk]
        start = m + 1 if kk == k else 0
        for mm in range(start, len(s2.tags)):
            e2, _, r2 = tag_parts(s2.tags[mm])
            ne, changed = _subst_numbers(e2, subs)
            if not changed:
                continue
            nv = evaluate_expression(ne)
            if nv is None:
                continue
            nv = _round2(nv)
            s2.tags[mm] = f"{ne}={format_number(nv)}"
            # the visible expression right before the tag, and the visible result after it
            s2.pieces[mm], _ = _subst_numbers(s2.pieces[mm], subs)
            aft = _AFTER_RE.match(s2.pieces[mm + 1])
            if aft and r2 is not None and parse_number(aft.group(1)) == r2:
                x, y = aft.span(1)
                s2.pieces[mm + 1] = (
                    s2.pieces[mm + 1][:x] + _fmt_like(nv, aft.group(1)) + s2.pieces[mm + 1][y:]
                )
            if r2 is not None and nv != r2:
                subs[r2] = nv
    return {
        "step": k,
        "tag": m,
        "original": format_number(r),
        "wrong": format_number(new),
        "_subs": subs,
    }


@dataclass
class Gsm8kPerturbConfig:
    """``prmkit world gsm8k-perturb`` options."""

    path: str = field(
        default="", metadata={"help": "GSM8K JSONL (question, answer with <<a*b=c>> tags)", "flag": "--in"}
    )
    out: str = field(default="gsm8k_perturb.jsonl", metadata={"help": "output file"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    rate: float = field(default=0.5, metadata={"help": "fraction of solutions given one error"})
    limit: int | None = field(default=None, metadata={"help": "read at most this many problems"})
    format: str = field(default="canonical", metadata={"help": "canonical | processbench"})
    keep_tags: bool = field(
        default=False, metadata={"help": "keep <<...>> annotations in step text", "negative": "--strip-tags"}
    )

    def __post_init__(self) -> None:
        check_range(self, 0.0, 1.0, "rate")
        check_min(self, 1, "limit")
        check_choice(self, "format", ("canonical", "processbench"))


def perturb_gsm8k(
    path: str | os.PathLike,
    seed: int = 0,
    rate: float = 0.5,
    *,
    limit: int | None = None,
    keep_tags: bool = False,
) -> list[Solution]:
    """Read GSM8K JSONL and return ProcessBench-shaped Solutions, about ``rate`` with one error.

    Example (needs the data file)::

        recs = perturb_gsm8k("../shared/data/gsm8k/test.jsonl", seed=0)
        sum(r.first_error >= 0 for r in recs) / len(recs)   # ~0.5
    """
    if not 0.0 <= rate <= 1.0:
        raise PrmkitError(f"rate must be in [0, 1], got {rate}", field="rate")
    out = []
    stem = os.path.splitext(os.path.basename(str(path)))[0]
    for n, obj, _raw in iter_json_lines(path):
        if limit is not None and len(out) >= limit:
            break
        if not isinstance(obj, dict):
            raise PrmkitError("expected a JSON object", file=str(path), line=n)
        for key in ("question", "answer"):
            if not isinstance(obj.get(key), str):
                raise PrmkitError("missing or not a string", file=str(path), line=n, field=key)
        try:
            rec = perturb_record(
                obj["question"],
                obj["answer"],
                seed=seed,
                rate=rate,
                rid=f"gsm8k-{stem}-{n - 1}",
                keep_tags=keep_tags,
                source={"source": str(path), "line": n},
            )
        except PrmkitError as e:
            raise e.located(file=str(path), line=n) from None
        out.append(rec)
    return out


def run_gsm8k_perturb(cfg: Gsm8kPerturbConfig) -> int:
    """Write :func:`perturb_gsm8k` output as canonical records or ProcessBench records."""
    if not cfg.path:
        raise PrmkitError("--in PATH is required", field="path")
    check_input_file(cfg.path)
    recs = perturb_gsm8k(cfg.path, cfg.seed, cfg.rate, limit=cfg.limit, keep_tags=cfg.keep_tags)
    if cfg.format == "canonical":
        return write_records(cfg.out, recs)
    if cfg.format == "processbench":
        from prmkit.worlds.arith_tasks import write_processbench

        for r in recs:
            r.meta.setdefault(META_GENERATOR, "gsm8k-reference")
        return write_processbench(cfg.out, recs)
    raise PrmkitError(f"unknown format {cfg.format!r}; known: canonical, processbench", field="format")


__all__ = [
    "Gsm8kPerturbConfig",
    "perturb_gsm8k",
    "perturb_record",
    "run_gsm8k_perturb",
    "tag_is_true",
    "tag_parts",
]
