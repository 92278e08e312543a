"""The arithmetic world itself: problem specs and generation, step rendering and the exact checker.

Below :mod:`prmkit.worlds.arith_policy` (which generates steps with these functions); the
benchmark builders that use the policy live in :mod:`prmkit.worlds.arith`, which re-exports
everything here.

The world (GSM8K-like word problems with exact step truth) and its checker rule are described in
:mod:`prmkit.worlds.arith` and docs/worlds.md.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.records import Problem, Solution, labels_from_first_error
from prmkit.worlds.arith_parse import Number, ParsedStep, format_number, parse_step

SPEC_VERSION = 1
OP_SYMBOL = {"+": "+", "-": "-", "*": "x", "/": "/"}

# ---------------------------------------------------------------- surface vocabulary

_NAMES = [
    ("Mia", "she", "her", "her"),
    ("Liam", "he", "him", "his"),
    ("Ava", "she", "her", "her"),
    ("Noah", "he", "him", "his"),
    ("Sofia", "she", "her", "her"),
    ("Ethan", "he", "him", "his"),
    ("Chloe", "she", "her", "her"),
    ("Lucas", "he", "him", "his"),
    ("Priya", "she", "her", "her"),
    ("Mateo", "he", "him", "his"),
    ("Aisha", "she", "her", "her"),
    ("Kenji", "he", "him", "his"),
    ("Grace", "she", "her", "her"),
    ("Omar", "he", "him", "his"),
    ("Lena", "she", "her", "her"),
    ("Diego", "he", "him", "his"),
    ("Hana", "she", "her", "her"),
    ("Samuel", "he", "him", "his"),
    ("Zoe", "she", "her", "her"),
    ("Tariq", "he", "him", "his"),
    ("Elena", "she", "her", "her"),
    ("Jonah", "he", "him", "his"),
    ("Nadia", "she", "her", "her"),
    ("Felix", "he", "him", "his"),
]

# (plural, container plural, container singular)
_ITEMS = [
    ("apples", "bags", "bag"),
    ("marbles", "jars", "jar"),
    ("stickers", "sheets", "sheet"),
    ("cookies", "boxes", "box"),
    ("pencils", "packs", "pack"),
    ("eggs", "cartons", "carton"),
    ("trading cards", "decks", "deck"),
    ("seashells", "buckets", "bucket"),
    ("books", "shelves", "shelf"),
    ("balloons", "bunches", "bunch"),
    ("crayons", "boxes", "box"),
    ("beads", "strings", "string"),
    ("stamps", "albums", "album"),
    ("candies", "bags", "bag"),
    ("flowers", "bouquets", "bouquet"),
    ("toy cars", "crates", "crate"),
    ("oranges", "crates", "crate"),
    ("cupcakes", "trays", "tray"),
    ("buttons", "tins", "tin"),
    ("paper cranes", "baskets", "basket"),
]

_ACQUIRE = ["buys", "finds", "collects", "receives", "wins", "gets"]
_LOSE = ["gives away", "sells", "loses", "donates", "trades away", "uses"]
_OTHER = ["postcards", "magnets", "keychains", "puzzles", "notebooks", "hats"]


@dataclass
class _Ctx:
    """Names and words of one story."""

    n: str
    s: str  # subject pronoun
    o: str  # object pronoun
    p: str  # possessive
    its: str
    cps: str
    cp: str
    acq: str
    lose: str

    def fmt(self, template: str, **kw: Any) -> str:
        # positional {0}/{1} survive as placeholders for the operand values of a step
        return template.format(
            "{0}",
            "{1}",
            N=self.n,
            S=self.s.capitalize(),
            s=self.s,
            o=self.o,
            P=self.p.capitalize(),
            p=self.p,
            its=self.its,
            cps=self.cps,
            cp=self.cp,
            acq=self.acq,
            lose=self.lose,
            **kw,
        )


# Question sentence templates per node kind. {a}/{b} are the new given numbers.
# Solution "reason" templates use {0} and {1} for the operand values as written in a step.
_START = {
    "*": [
        ("{N} buys {a} {cps} of {its}. Each {cp} has {b} {its}.", "{S} buys {0} {cps} of {1} {its}"),
        ("{N} has {a} {cps} with {b} {its} in each.", "{S} has {0} {cps} with {1} {its} each"),
    ],
    "+": [
        ("{N} has {a} {its}. {S} {acq} {b} more {its}.", "{S} has {0} {its} and {acq} {1} more"),
        (
            "{N} starts with {a} {its} and then {acq} {b} more.",
            "{S} starts with {0} {its} and {acq} {1} more",
        ),
    ],
    "-": [
        ("{N} had {a} {its}. {S} {lose} {b} of them.", "{S} had {0} {its} and {lose} {1}"),
        ("{N} starts with {a} {its} but {lose} {b} of them.", "{S} starts with {0} {its} and {lose} {1}"),
    ],
}
_START_NP = {
    "*": "the number of {its} {N} starts with",
    "+": "the number of {its} {N} has after that",
    "-": "the number of {its} {N} has left",
}
_CHAIN = {
    "+": [
        ("Then {s} {acq2} {g} more {its}.", "{S} had {0} {its} and {acq2} {1} more"),
        ("Later, a friend gives {o} another {g} {its}.", "{S} had {0} {its} and gets {1} more"),
    ],
    "-": [
        ("After that, {s} {lose2} {g} {its}.", "{S} had {0} {its} and {lose2} {1}"),
        ("{S} then {lose2} {g} of {p} {its}.", "{S} had {0} {its} and {lose2} {1}"),
    ],
    "*": [
        (
            "Over the next month, {p} collection of {its} grows to {g} times its size.",
            "{P} {0} {its} grow to {1} times as many",
        ),
        (
            "Then the number of {its} {s} has becomes {g} times as large.",
            "{P} {0} {its} become {1} times as many",
        ),
    ],
    "/": [
        (
            "{S} splits {p} {its} into {g} equal groups and keeps only one group.",
            "{S} splits {0} {its} into {1} equal groups and keeps one",
        ),
        (
            "{S} shares {p} {its} equally among {g} {cps} and keeps just one {cp}.",
            "{S} shares {0} {its} equally among {1} {cps} and keeps one",
        ),
    ],
}
_CHAIN_NP = {
    "+": "the number of {its} {N} has then",
    "-": "the number of {its} {N} has left",
    "*": "the number of {its} {N} has now",
    "/": "the number of {its} {N} keeps",
}
_SIDE = {
    "*": ("{M} has {a} {cps} with {b} {its} in each.", "{M} has {0} {cps} with {1} {its} each"),
    "+": ("{M} has {a} {its} and finds {b} more.", "{M} has {0} {its} and finds {1} more"),
    "-": ("{M} had {a} {its} but lost {b} of them.", "{M} had {0} {its} and lost {1}"),
}
_MERGE = {
    "+": ("{M} gives all of {MP} {its} to {N}.", "{N} had {0} {its} and gets {1} from {M}"),
    "-": ("{N} gives {M} as many {its} as {M} has.", "{N} had {0} {its} and gives {M} {1}"),
}
_DISTRACT = [
    "{M} is {k} years old.",
    "{N} lives {k} miles from the nearest store.",
    "{N}'s neighbour keeps {k} {other} in a drawer.",
    "The shop down the street sells {k} kinds of {its}.",
    "{N} also owns {k} {other}, but they play no part here.",
]
_QUESTION = [
    "How many {its} does {N} have now?",
    "How many {its} does {N} end up with?",
    "How many {its} does {N} have at the end?",
]


# ---------------------------------------------------------------- spec


@dataclass
class ArithSpec:
    """Typed view of ``problem.meta["arith"]``.

    ``givens``: numbers stated in the problem and used by it (text order); ``distractors``:
    numbers stated but unused; ``nodes``: the operations in story order, each
    ``{"op", "a", "b", "value", "reason", "np", "unit"}`` where ``a``/``b`` reference ``"g<i>"``
    (a given) or ``"n<j>"`` (an earlier node); the last node is the answer.
    """

    givens: list[int]
    distractors: list[int]
    nodes: list[dict[str, Any]]
    answer: int
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def ref_value(self, ref: str) -> int:
        i = int(ref[1:])
        return self.givens[i] if ref[0] == "g" else self.nodes[i]["value"]

    @property
    def node_values(self) -> set[int]:
        return {n["value"] for n in self.nodes}

    @property
    def quantities(self) -> set[int]:
        """Values a correct step may produce: givens and intermediate results."""
        return set(self.givens) | self.node_values

    @property
    def all_numbers(self) -> set[int]:
        return self.quantities | set(self.distractors)


_SPEC_CACHE: dict[int, tuple[dict[str, Any], ArithSpec]] = {}


def get_spec(obj: Any) -> ArithSpec:
    """The :class:`ArithSpec` of a Problem, Solution (anything with ``.meta["arith"]``) or spec dict.

    Example:
        >>> p = generate_problems(1, seed=3)[0]
        >>> get_spec(p).answer == int(p.reference_answer)
        True
    """
    raw = obj if isinstance(obj, dict) and "nodes" in obj else None
    if raw is None:
        meta = getattr(obj, "meta", None)
        if not isinstance(meta, dict) or "arith" not in meta:
            raise PrmkitError(
                "not an arithmetic-world record: meta['arith'] (the problem spec) is missing",
                field="meta.arith",
            )
        raw = meta["arith"]
    hit = _SPEC_CACHE.get(id(raw))
    if hit is not None and hit[0] is raw:
        return hit[1]
    try:
        spec = ArithSpec(
            givens=[int(v) for v in raw["givens"]],
            distractors=[int(v) for v in raw.get("distractors", [])],
            nodes=list(raw["nodes"]),
            answer=int(raw["answer"]),
            raw=raw,
        )
        for nd in spec.nodes:
            for key in ("op", "a", "b", "value"):
                if key not in nd:
                    raise KeyError(f"nodes[].{key}")
    except (KeyError, TypeError, ValueError) as e:
        raise PrmkitError(f"malformed arithmetic spec: {e}", field="meta.arith") from None
    if len(_SPEC_CACHE) > 100_000:
        _SPEC_CACHE.clear()
    _SPEC_CACHE[id(raw)] = (raw, spec)
    return spec


# ---------------------------------------------------------------- problem generation


def _pick_chain_op(rng: random.Random, r: int, max_value: int, max_given: int, max_factor: int):
    """A feasible (op, g) applied to the running value r, or None."""
    options: list[tuple[str, int]] = []
    if r + 2 <= max_value:
        options += [("+", rng.randint(2, max(2, min(max_given, max_value - r))))] * 3
    if r >= 4:
        options += [("-", rng.randint(2, min(max_given, r - 2)))] * 3
    if r * 2 <= max_value and r <= max_value // 2:
        options += [("*", rng.randint(2, max(2, min(max_factor, max_value // r))))] * 2
    divs = [d for d in range(2, max_factor + 1) if r % d == 0 and r // d >= 2]
    if divs:
        options += [("/", rng.choice(divs))] * 2
    return rng.choice(options) if options else None


def _apply(op: str, a: int, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a // b


def _gen_one(
    rng: random.Random,
    pid: str,
    min_ops: int,
    max_ops: int,
    max_value: int,
    max_given: int,
    max_factor: int,
    distractors: bool,
    side_prob: float,
) -> Problem:
    names = rng.sample(_NAMES, 4)
    (nm, s, o, p) = names[0]
    its, cps, cp = rng.choice(_ITEMS)
    acq2 = rng.sample(_ACQUIRE, 2)
    lose2 = rng.sample(_LOSE, 2)
    ctx = _Ctx(n=nm, s=s, o=o, p=p, its=its, cps=cps, cp=cp, acq=acq2[0], lose=lose2[0])
    n_ops = rng.randint(min_ops, max_ops)

    givens: list[int] = []
    nodes: list[dict[str, Any]] = []
    sentences: list[str] = []

    def add_given(v: int) -> str:
        givens.append(v)
        return f"g{len(givens) - 1}"

    def add_node(op: str, a: str, b: str, value: int, reason: str, np: str) -> str:
        nodes.append({"op": op, "a": a, "b": b, "value": value, "reason": reason, "np": np, "unit": its})
        return f"n{len(nodes) - 1}"

    # first operation: two givens
    kind = rng.choices(["*", "+", "-"], weights=[4, 3, 3])[0]
    if kind == "*":
        a = rng.randint(2, max(2, min(max_factor, max_value // 2)))
        b = rng.randint(2, max(2, min(max_factor, max_value // a)))
    elif kind == "+":
        a = rng.randint(2, max_given)
        b = rng.randint(2, max(2, min(max_given, max_value - a)))
    else:
        a = rng.randint(max(5, min(max_given, 8)), max(5, max_given))
        b = rng.randint(2, a - 2)
    q_t, r_t = rng.choice(_START[kind])
    sentences.append(ctx.fmt(q_t, a=a, b=b))
    ga, gb = add_given(a), add_given(b)
    cur = add_node(kind, ga, gb, _apply(kind, a, b), ctx.fmt(r_t), ctx.fmt(_START_NP[kind]))
    r = nodes[-1]["value"]
    remaining = n_ops - 1
    friend = 1
    while remaining > 0:
        done = False
        if remaining >= 2 and friend < len(names) and rng.random() < side_prob:
            mname, _ms, _mo, mp = names[friend]
            skind = rng.choice(["*", "+", "-"])
            if skind == "*":
                a = rng.randint(2, max_factor)
                b = rng.randint(2, max_factor)
            elif skind == "+":
                a, b = rng.randint(2, max_given), rng.randint(2, max_given)
            else:
                a = rng.randint(max(5, min(max_given, 8)), max(5, max_given))
                b = rng.randint(2, a - 2)
            sv = _apply(skind, a, b)
            merges = []
            if r + sv <= max_value:
                merges.append("+")
            if r - sv >= 2:
                merges.append("-")
            if merges and sv <= max_value:
                mk = rng.choice(merges)
                q_t, r_t = _SIDE[skind]
                sentences.append(ctx.fmt(q_t, M=mname, a=a, b=b))
                ga, gb = add_given(a), add_given(b)
                side = add_node(skind, ga, gb, sv, ctx.fmt(r_t, M=mname), f"the number of {its} {mname} has")
                mq, mr = _MERGE[mk]
                sentences.append(ctx.fmt(mq, M=mname, MP=mp))
                r = _apply(mk, r, sv)
                cur = add_node(
                    mk, cur, side, r, ctx.fmt(mr, M=mname), f"the number of {its} {nm} has after that"
                )
                friend += 1
                remaining -= 2
                done = True
        if not done:
            pick = _pick_chain_op(rng, r, max_value, max_given, max_factor)
            if pick is None:  # nothing feasible (cannot happen with sane bounds): add a small amount
                pick = ("+", 2)
            op, g = pick
            q_t, r_t = rng.choice(_CHAIN[op])
            acq, lose = acq2[1], lose2[1]
            sentences.append(ctx.fmt(q_t, g=g, acq2=acq, lose2=lose))
            gg = add_given(g)
            r = _apply(op, r, g)
            cur = add_node(op, cur, gg, r, ctx.fmt(r_t, acq2=acq, lose2=lose), ctx.fmt(_CHAIN_NP[op]))
            remaining -= 1

    dvals: list[int] = []
    if distractors:
        used = set(givens) | {nd["value"] for nd in nodes}
        for _ in range(rng.choice([0, 1, 1, 2])):
            for _try in range(20):
                k = rng.randint(2, max(3, max_given))
                if k not in used:
                    break
            else:
                continue
            used.add(k)
            dvals.append(k)
            t = rng.choice(_DISTRACT)
            sent = ctx.fmt(t, M=names[-1][0], k=k, other=rng.choice(_OTHER))
            sentences.insert(rng.randint(1, len(sentences)), sent)
    question = " ".join(sentences) + " " + ctx.fmt(rng.choice(_QUESTION))
    answer = nodes[-1]["value"]
    spec = {
        "version": SPEC_VERSION,
        "givens": givens,
        "distractors": dvals,
        "nodes": nodes,
        "answer": answer,
    }
    return Problem(id=pid, question=question, reference_answer=str(answer), meta={"arith": spec})


def generate_problems(
    n: int,
    seed: int,
    *,
    min_ops: int = 2,
    max_ops: int = 8,
    max_value: int = 1000,
    max_given: int = 50,
    max_factor: int = 12,
    distractors: bool = True,
    side_prob: float = 0.25,
    id_prefix: str = "arith",
) -> list[Problem]:
    """Generate ``n`` GSM8K-like word problems, deterministically from ``seed``.

    Each problem has 2..``max_ops`` operations (``+ - x /``, exact integer results, every value
    in ``[1, max_value]``), numbers stated up to ``max_given`` (factors and divisors up to
    ``max_factor``), optional distractor numbers, and its spec in ``meta["arith"]``. Problem
    ``i`` depends only on ``(seed, i)``, so ``generate_problems(10, 0)[:5] == generate_problems(5, 0)``.

    Example:
        >>> ps = generate_problems(3, seed=7)
        >>> [p.id for p in ps]
        ['arith-7-0', 'arith-7-1', 'arith-7-2']
        >>> ps == generate_problems(3, seed=7)
        True
    """
    if not 1 <= min_ops <= max_ops:
        raise PrmkitError(f"need 1 <= min_ops <= max_ops, got {min_ops}, {max_ops}", field="min_ops")
    if max_value < 20 or max_given < 5 or max_factor < 2:
        raise PrmkitError("need max_value >= 20, max_given >= 5, max_factor >= 2", field="max_value")
    if n < 0:
        raise PrmkitError(f"n must be >= 0, got {n}", field="n")
    out = []
    for i in range(n):
        rng = random.Random(f"arith:{seed}:{i}")
        out.append(
            _gen_one(
                rng,
                f"{id_prefix}-{seed}-{i}",
                min_ops,
                max_ops,
                max_value,
                max_given,
                max_factor,
                distractors,
                side_prob,
            )
        )
    return out


# ---------------------------------------------------------------- reference solution


def render_step(
    node: dict[str, Any],
    x: Number,
    y: Number,
    result: Number,
    *,
    sym: str | None = None,
    variant: int = 0,
    swap: bool = False,
) -> str:
    """Write the step that computes ``node`` from operand values ``x``, ``y`` giving ``result``.

    ``variant`` picks a phrasing (0 = canonical), ``swap`` writes commutative operands reversed.
    """
    op = node["op"]
    sym = sym or OP_SYMBOL[op]
    xs, ys, rs = format_number(x), format_number(y), format_number(result)
    eq = f"{ys} {sym} {xs} = {rs}" if swap else f"{xs} {sym} {ys} = {rs}"
    unit = node.get("unit", "")
    if variant == 1:
        np = node.get("np", "the result")
        return f"{np[0].upper()}{np[1:]} is {eq}."
    if variant == 2:
        return f"{eq} {unit}, which is {node.get('np', 'the result')}.".replace(" ,", ",")
    if variant == 3:
        return f"{node['reason'].format(xs, ys)}. That makes {eq} {unit}.".replace("  ", " ")
    return f"{node['reason'].format(xs, ys)}, so {eq} {unit}.".replace(" .", ".")


def final_step(answer: Number) -> str:
    """The closing step: ``The answer is N.``"""
    return f"The answer is {format_number(answer)}."


def reference_solution(problem: Problem | Solution | dict) -> list[str]:
    """The canonical correct solution: one step per operation, then ``The answer is N.``

    Example:
        >>> p = generate_problems(1, seed=1)[0]
        >>> steps = reference_solution(p)
        >>> steps[-1] == f"The answer is {p.reference_answer}."
        True
    """
    spec = get_spec(problem)
    steps = []
    for nd in spec.nodes:
        steps.append(render_step(nd, spec.ref_value(nd["a"]), spec.ref_value(nd["b"]), nd["value"]))
    steps.append(final_step(spec.answer))
    return steps


# ---------------------------------------------------------------- checker


@dataclass
class StepCheck:
    """Result of :func:`check_steps`.

    ``correct``: per-step verdict (each step judged on its own against the quantities known to
    be correct before it); ``first_error``: index of the first incorrect step (-1 none);
    ``answer``: the last final answer stated (``None`` if none); ``answer_correct``: it equals the
    problem's answer; ``reasons``: why each step was judged incorrect (``""`` when correct).
    """

    correct: list[bool]
    first_error: int
    answer: Number | None = None
    answer_correct: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[float | None]:
        """ProcessBench-style labels: 1 before the first error, 0 at it, ``None`` after."""
        return labels_from_first_error(self.first_error, len(self.correct)) if self.correct else []


def judge_step(parsed: ParsedStep, known: set, quantities: set, answer: int) -> tuple[bool, str]:
    """Apply the checker rule to one parsed step; adds the results of a correct step to ``known``."""
    if not parsed.equations and parsed.answer is None:
        return False, "no equation or final answer found"
    new: list[Number] = []
    ok, why = True, ""
    for e in parsed.equations:
        if not e.true:
            ok, why = False, f"'{e.text}' is false"
            break
        bad = [o for o in e.operands if o not in known and o not in new]
        if bad:
            ok, why = False, f"'{e.text}' uses {format_number(bad[0])}, not a known-correct quantity"
            break
        if e.result not in quantities:
            ok, why = False, f"'{e.text}' computes {format_number(e.result)}, not a quantity of this problem"
            break
        new.append(e.result)
    if ok and parsed.answer is not None and parsed.answer != answer:
        ok, why = False, f"states the answer {format_number(parsed.answer)}, the answer is {answer}"
    if ok:
        known.update(new)
    return ok, why


def check_steps(
    problem: Problem | Solution | dict, steps: Sequence[str], *, partial: bool = False
) -> StepCheck:
    """Exact step correctness for a solution of an arithmetic-world problem (any step text).

    ``problem``: a Problem (or Solution, or spec dict) whose ``meta["arith"]`` holds the spec.
    With ``partial=False`` the last step must state the final answer; ``partial=True`` judges
    an unfinished prefix (a missing answer is then not an error).

    Example:
        >>> p = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]
        >>> g = get_spec(p).givens
        >>> r = check_steps(p, [f"{g[0]} + {g[1]} = {g[0] + g[1] + 1}", "The answer is 5."])
        >>> r.correct[0], r.first_error
        (False, 0)
    """
    spec = get_spec(problem)
    known: set = set(spec.givens)
    quantities = spec.quantities
    correct: list[bool] = []
    reasons: list[str] = []
    answer: Number | None = None
    last_answer: Number | None = None
    for st in steps:
        try:
            parsed = parse_step(st)
        except (ValueError, RecursionError, OverflowError) as e:
            # a hostile step (a 5000-digit number, parentheses nested 3000 deep) states no quantity
            # of this problem: incorrect, with the reason; it never fails the other steps
            correct.append(False)
            reasons.append(f"cannot be parsed ({type(e).__name__}: {str(e)[:80]})")
            last_answer = None
            continue
        ok, why = judge_step(parsed, known, quantities, spec.answer)
        last_answer = parsed.answer
        if parsed.answer is not None:
            answer = parsed.answer
        correct.append(ok)
        reasons.append(why)
    if not partial and steps and last_answer is None and correct[-1]:
        correct[-1] = False
        reasons[-1] = "the last step states no final answer"
    fe = next((i for i, c in enumerate(correct) if not c), -1)
    return StepCheck(
        correct=correct,
        first_error=fe,
        answer=answer,
        answer_correct=answer is not None and answer == spec.answer,
        reasons=reasons,
    )


# ---------------------------------------------------------------- benchmarks and pools
