"""``ArithPolicy``: a fast noisy step generator for the arithmetic world, with known ground truth.

Error model, applied independently at each operation step:

- with probability ``error_rate`` one fresh error: an arithmetic slip (wrong result), a wrong
  operand (a misread number or a distractor), a wrong operation (e.g. ``+`` for ``x``) or a
  skipped step (an operation left out; the next step uses the stale value). Every injected
  error is *detectable*: its wrong value is none of the problem's numbers;
- a wrong value is carried forward by later steps, which compute correctly from it;
- with probability ``miracle_rate``, a step whose operands carry a wrong value instead states
  the true result (a compensating error: the process is wrong, the answer may end up right);
- ``diversity`` in [0, 1] varies the step order (among independent operations), the phrasing
  and the operator symbols; ``diversity=0`` reproduces :func:`reference_solution` when error-free.

Continuation from ANY prefix: the prefix is parsed with the checker's parser, matched to the
problem's operations (a wrong value in the prefix is carried forward) and never altered.
Randomness per request comes from (seed, problem id, prefix length, prefix text, sample index),
so results do not depend on batching. Ground truth rides along in ``Generation.meta``:
``labels`` (new steps, exact checker verdicts), ``first_error`` (index in prefix + new steps),
``errors``, ``miracles``, ``miracle_opportunities`` and, when finished, ``answer``/``correct``.

Example:
    >>> from prmkit.worlds.arith_spec import generate_problems, check_steps
    >>> p = generate_problems(1, seed=0)[0]
    >>> g = ArithPolicy(error_rate=0.0, diversity=0.0).sample([p], n=1)[0][0]
    >>> g.finished, g.meta["first_error"], check_steps(p, g.steps).first_error
    (True, -1, -1)
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.policies.base import POLICIES, Generation, Policy, check_continue_args
from prmkit.records import Problem
from prmkit.worlds.arith_parse import Number, format_number, parse_step
from prmkit.worlds.arith_spec import final_step, get_spec, judge_step, render_step

_M64 = 0xFFFFFFFFFFFFFFFF
_OPS = ("+", "-", "*", "/")
_SLIP_DELTAS = (1, -1, 2, -2, 10, -10, 3, -3, 5, -5, 4, -4, 20, -20, 7, -7)


class _Rng:
    """SplitMix64: a tiny, fast, portable generator (one per request, seeded by a hash)."""

    __slots__ = ("s",)

    def __init__(self, seed: int) -> None:
        self.s = seed & _M64

    def u64(self) -> int:
        self.s = z = (self.s + 0x9E3779B97F4A7C15) & _M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)

    def random(self) -> float:
        return (self.u64() >> 11) * 1.1102230246251565e-16

    def below(self, n: int) -> int:
        return self.u64() % n


def _mix(*xs: int) -> int:
    h = 0x243F6A8885A308D3
    for x in xs:
        h = ((h ^ (x & _M64)) * 0x100000001B3 + 0x9E3779B97F4A7C15) & _M64
        h ^= h >> 29
    return h


def _exact(op: str, x: Number, y: Number) -> Number | None:
    """x op y exactly (None for division by zero)."""
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if y == 0:
        return None
    if isinstance(x, int) and isinstance(y, int) and x % y == 0:
        return x // y
    return Fraction(x) / y


def _written(v: Number) -> Number:
    """The value as the policy writes it: integers exactly, other values rounded to 2 decimals."""
    if isinstance(v, int):
        return v
    if v.denominator == 1:
        return int(v)
    return Fraction(round(v * 100), 100)


class _Compiled:
    """A problem's spec pre-digested for the hot path."""

    __slots__ = (
        "pid_hash",
        "nodes",
        "a_node",
        "a_idx",
        "b_node",
        "b_idx",
        "ops",
        "true",
        "parent",
        "givens",
        "quant",
        "all",
        "answer",
        "n",
        "distractors",
    )

    def __init__(self, problem: Problem) -> None:
        spec = get_spec(problem)
        self.pid_hash = zlib.crc32(problem.id.encode("utf-8"))
        self.nodes = spec.nodes
        self.n = len(spec.nodes)
        self.givens = spec.givens
        self.a_node, self.a_idx, self.b_node, self.b_idx = [], [], [], []
        self.parent = [-1] * self.n
        for j, nd in enumerate(spec.nodes):
            for ref, isn, idx in ((nd["a"], self.a_node, self.a_idx), (nd["b"], self.b_node, self.b_idx)):
                is_node = ref[0] == "n"
                k = int(ref[1:])
                isn.append(is_node)
                idx.append(k)
                if is_node:
                    if not 0 <= k < j:
                        raise PrmkitError(
                            f"node {j} references {ref}, not an earlier node", field="meta.arith"
                        )
                    self.parent[k] = j
                elif not 0 <= k < len(spec.givens):
                    raise PrmkitError(f"node {j} references unknown given {ref}", field="meta.arith")
        self.ops = [nd["op"] for nd in spec.nodes]
        self.true = [nd["value"] for nd in spec.nodes]
        self.quant = spec.quantities
        self.all = spec.all_numbers
        self.answer = spec.answer
        self.distractors = spec.distractors

    def proxy(self, belief: list, is_node: bool, idx: int) -> Number:
        """The value an operand holds now; an uncomputed node stands in by its first input."""
        while is_node and belief[idx] is None:
            is_node, idx = self.a_node[idx], self.a_idx[idx]
        return belief[idx] if is_node else self.givens[idx]


class _State:
    __slots__ = ("belief", "known", "first_error", "finished", "n_prefix")

    def __init__(self, belief: list, known: set, first_error: int, finished: bool, n_prefix: int) -> None:
        self.belief = belief
        self.known = known
        self.first_error = first_error
        self.finished = finished
        self.n_prefix = n_prefix


def _replay(c: _Compiled, prefix: Sequence[str]) -> _State:
    """Reconstruct what a prefix has computed (matching its equations to operations)."""
    belief: list = [None] * c.n
    known: set = set(c.givens)
    fe = -1
    finished = False
    for i, st in enumerate(prefix):
        parsed = parse_step(st)
        ok, _ = judge_step(parsed, known, c.quant, c.answer)
        if not ok and fe < 0:
            fe = i
        if parsed.answer is not None:
            finished = True
        for e in parsed.equations:
            _assign(c, belief, e.operands, e.ops, e.result, ok)
    return _State(belief, known, fe, finished, len(prefix))


def _mark_inputs(c: _Compiled, belief: list, j: int, true: bool) -> None:
    for is_node, idx in ((c.a_node[j], c.a_idx[j]), (c.b_node[j], c.b_idx[j])):
        if is_node and belief[idx] is None:
            _mark_inputs(c, belief, idx, true)
            belief[idx] = c.true[idx] if true else c.proxy(belief, c.a_node[idx], c.a_idx[idx])


def _assign(c: _Compiled, belief: list, operands: tuple, ops: frozenset, result: Number, ok: bool) -> None:
    open_ = [j for j in range(c.n) if belief[j] is None]
    if not open_:
        return
    if ok:  # a correct step: the operation whose true value it computed (a chain may do several)
        for j in open_:
            if c.true[j] == result:
                _mark_inputs(c, belief, j, True)
                belief[j] = result
                return
    best, best_score = -1, 0.0
    for j in open_:
        vals = [c.proxy(belief, c.a_node[j], c.a_idx[j]), c.proxy(belief, c.b_node[j], c.b_idx[j])]
        rest = list(operands)
        score = 0.0
        for v in vals:
            if v in rest:
                rest.remove(v)
                score += 1
        if c.ops[j] in ops:
            score += 1
        if (not c.a_node[j] or belief[c.a_idx[j]] is not None) and (
            not c.b_node[j] or belief[c.b_idx[j]] is not None
        ):
            score += 0.5
        if score > best_score:
            best, best_score = j, score
    if best >= 0 and best_score >= 1:
        _mark_inputs(c, belief, best, False)
        belief[best] = result


#: the policy's default (slip, wrong operand, wrong operation, skipped step) error mix
ERROR_WEIGHTS: tuple[float, float, float, float] = (0.4, 0.2, 0.2, 0.2)


@POLICIES.register("arith")
class ArithPolicy(Policy):
    """Noisy, fast, exactly-labelled step generator for arithmetic-world problems.

    Args:
        error_rate: probability of a fresh error at each operation step.
        miracle_rate: probability that a step fed a wrong value states the true result anyway.
        diversity: 0 = canonical order and phrasing; 1 = maximal variation.
        error_weights: relative weights of (slip, wrong operand, wrong operation, skipped step).

    Example:
        >>> from prmkit.worlds.arith import generate_problems
        >>> p = generate_problems(1, seed=2)[0]
        >>> pol = ArithPolicy(error_rate=0.3)
        >>> a = pol.continue_from([p], [[]], n=4, seed=5)
        >>> a == pol.continue_from([p], [[]], n=4, seed=5)
        True
    """

    step_separator = "\n"

    def __init__(
        self,
        error_rate: float = 0.15,
        miracle_rate: float = 0.02,
        diversity: float = 0.5,
        error_weights: Sequence[float] = ERROR_WEIGHTS,
    ) -> None:
        for name, v in (("error_rate", error_rate), ("miracle_rate", miracle_rate), ("diversity", diversity)):
            if not 0.0 <= float(v) <= 1.0:
                raise PrmkitError(f"{name} must be in [0, 1], got {v}", field=name)
        if len(error_weights) != 4 or min(error_weights) < 0 or sum(error_weights) <= 0:
            raise PrmkitError("error_weights needs 4 non-negative weights", field="error_weights")
        self.error_rate = float(error_rate)
        self.miracle_rate = float(miracle_rate)
        self.diversity = float(diversity)
        tot = float(sum(error_weights))
        acc, cum = 0.0, []
        for w in error_weights:
            acc += w / tot
            cum.append(acc)
        self._cum = cum
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    # ------------------------------------------------------------ public API

    def continue_from(
        self,
        problems: Sequence[Problem],
        prefixes: Sequence[list[str]],
        n: int,
        *,
        max_steps: int | None = None,
        seed: int = 0,
    ) -> list[list[Generation]]:
        """``n`` continuations of each (problem, prefix); see the module docstring."""
        check_continue_args(problems, prefixes, n, max_steps)
        out = []
        for p, prefix in zip(problems, prefixes, strict=True):
            c = self._compile(p)
            st = _replay(c, prefix)
            ph = zlib.crc32("\x1f".join(prefix).encode("utf-8")) if prefix else 0
            base = _mix(seed, c.pid_hash, len(prefix), ph)
            out.append([self._generate(c, st, _Rng(_mix(base, i)), max_steps) for i in range(n)])
        return out

    def sample_one(self, problem: Problem, *, seed: int = 0, index: int = 0) -> Generation:
        """The ``index``-th full sample for ``problem`` (same as ``sample([problem], n)[0][index]``)."""
        c = self._compile(problem)
        st = _replay(c, [])
        return self._generate(c, st, _Rng(_mix(_mix(seed, c.pid_hash, 0, 0), index)), None)

    # ------------------------------------------------------------ internals

    def _compile(self, p: Problem) -> _Compiled:
        key = (p.id, p.question)
        c = self._compiled.get(key)
        if c is None:
            if len(self._compiled) > 50_000:
                self._compiled.clear()
            c = self._compiled[key] = _Compiled(p)
        return c

    def _generate(self, c: _Compiled, st: _State, rng: _Rng, max_steps: int | None) -> Generation:
        n_prefix = st.n_prefix
        if st.finished:
            return Generation(
                steps=[],
                finished=True,
                num_tokens=0,
                meta={
                    "labels": [],
                    "first_error": st.first_error,
                    "errors": [],
                    "miracles": [],
                    "miracle_opportunities": 0,
                },
            )
        belief = list(st.belief)
        known = set(st.known)
        fe = st.first_error
        steps: list[str] = []
        labels: list[bool] = []
        errors: list[dict[str, Any]] = []
        miracles: list[int] = []
        opps = 0
        div = self.diversity
        er = self.error_rate
        mr = self.miracle_rate
        nn = c.n
        finished = False
        limit = max_steps if max_steps is not None else 1 << 30
        while len(steps) < limit:
            avail = [
                j
                for j in range(nn)
                if belief[j] is None
                and (not c.a_node[j] or belief[c.a_idx[j]] is not None)
                and (not c.b_node[j] or belief[c.b_idx[j]] is not None)
            ]
            if not avail:
                ans = belief[nn - 1]
                steps.append(final_step(ans))
                ok = ans == c.answer
                labels.append(ok)
                if not ok and fe < 0:
                    fe = n_prefix + len(steps) - 1
                finished = True
                break
            j = avail[rng.below(len(avail))] if (len(avail) > 1 and rng.random() < div) else avail[0]
            op = c.ops[j]
            x = belief[c.a_idx[j]] if c.a_node[j] else c.givens[c.a_idx[j]]
            y = belief[c.b_idx[j]] if c.b_node[j] else c.givens[c.b_idx[j]]
            tainted = (c.a_node[j] and x != c.true[c.a_idx[j]]) or (c.b_node[j] and y != c.true[c.b_idx[j]])
            wop = op
            natural = _exact(op, x, y)
            res = natural
            kind = None
            if tainted and natural != c.true[j]:
                opps += 1
                if rng.random() < mr:
                    res = c.true[j]
                    kind = "miracle"
            if kind is None and rng.random() < er:
                u = rng.random()
                cum = self._cum
                kind = (
                    "slip"
                    if u < cum[0]
                    else "operand"
                    if u < cum[1]
                    else "operation"
                    if u < cum[2]
                    else "skip"
                )
                if kind == "skip":
                    if self._try_skip(c, belief, j, x):
                        errors.append({"step": n_prefix + len(steps), "kind": "skip", "node": j})
                        continue
                    kind = "slip"
                if kind == "operand":
                    got = self._wrong_operand(c, rng, j, op, x, y)
                    if got is None:
                        kind = "slip"
                    else:
                        x, y, res = got
                if kind == "operation":
                    got2 = self._wrong_operation(c, rng, op, x, y)
                    if got2 is None:
                        kind = "slip"
                    else:
                        wop, res = got2
                if kind == "slip":
                    res = self._slip(c, rng, natural)
            if res is None:  # division by a carried zero: write a (wrong) zero
                res = 0
            res = _written(res)
            # the exact checker rule, on structured data
            ok = _exact(wop, x, y) == res and x in known and y in known and res in c.quant
            if ok:
                known.add(res)
            elif fe < 0:
                fe = n_prefix + len(steps)
            if kind == "miracle":
                miracles.append(n_prefix + len(steps))
            elif kind is not None:
                errors.append({"step": n_prefix + len(steps), "kind": kind, "node": j})
            belief[j] = res
            nd = c.nodes[j]
            if div > 0.0 and rng.random() < div:
                variant = rng.below(4)
                sym = ("x" if rng.random() < 0.5 else "*") if wop == "*" else None
                swap = wop in ("+", "*") and rng.random() < 0.5
            else:
                variant, sym, swap = 0, None, False
            if wop != op:
                sym = "x" if wop == "*" else wop
                nd = dict(nd, op=wop)
            steps.append(render_step(nd, x, y, res, sym=sym, variant=variant, swap=swap))
            labels.append(ok)
        ntok = 0
        for s in steps:
            ntok += s.count(" ") + 1
        meta: dict[str, Any] = {
            "labels": labels,
            "first_error": fe,
            "errors": errors,
            "miracles": miracles,
            "miracle_opportunities": opps,
        }
        if finished:
            ans = format_number(belief[nn - 1])
            meta["answer"] = ans
            meta["correct"] = belief[nn - 1] == c.answer
        return Generation(steps=steps, finished=finished, num_tokens=ntok, meta=meta)

    @staticmethod
    def _slip(c: _Compiled, rng: _Rng, natural: Number | None) -> Number:
        base = natural if natural is not None else 0
        start = rng.below(len(_SLIP_DELTAS))
        for k in range(len(_SLIP_DELTAS)):
            r = base + _SLIP_DELTAS[(start + k) % len(_SLIP_DELTAS)]
            if r >= 0 and r not in c.all and r != natural:
                return r
        r = base + 1000003  # always outside the problem's numbers
        return r

    @staticmethod
    def _wrong_operand(c: _Compiled, rng: _Rng, j: int, op: str, x: Number, y: Number):
        # misread a stated number (prefer the given operand), or use a distractor instead
        cands: list[tuple[int, Number]] = []
        for slot, v, is_node in ((1, y, c.b_node[j]), (0, x, c.a_node[j])):
            if is_node or not isinstance(v, int):
                continue
            for d in (1, -1, 2, -2, 3, 10):
                cands.append((slot, v + d))
            for dv in c.distractors:
                cands.append((slot, dv))
        if not cands:
            return None
        start = rng.below(len(cands))
        for k in range(len(cands)):
            slot, w = cands[(start + k) % len(cands)]
            if w <= 0 or w in c.quant:
                continue
            nx, ny = (w, y) if slot == 0 else (x, w)
            r = _exact(op, nx, ny)
            if r is None or r < 0 or not isinstance(r, int) or r in c.all:
                continue
            return nx, ny, r
        return None

    @staticmethod
    def _wrong_operation(c: _Compiled, rng: _Rng, op: str, x: Number, y: Number):
        start = rng.below(4)
        for k in range(4):
            wop = _OPS[(start + k) % 4]
            if wop == op:
                continue
            r = _exact(wop, x, y)
            if r is None or r < 0 or not isinstance(r, int) or r in c.all:
                continue
            return wop, r
        return None

    @staticmethod
    def _try_skip(c: _Compiled, belief: list, j: int, x: Number) -> bool:
        """Leave operation j out (its consumer then uses x); only when that is detectable."""
        par = c.parent[j]
        if par < 0:  # the last operation: the stated answer becomes x
            if x == c.answer:
                return False
            belief[j] = x
            return True
        # the consumer's other operand must be ready, and its result must be a wrong value
        if c.a_node[par] and c.a_idx[par] == j:
            other_node, other_idx, first = c.b_node[par], c.b_idx[par], True
        else:
            other_node, other_idx, first = c.a_node[par], c.a_idx[par], False
        if other_node and belief[other_idx] is None:
            return False
        o = belief[other_idx] if other_node else c.givens[other_idx]
        r = _exact(c.ops[par], x, o) if first else _exact(c.ops[par], o, x)
        if r is None or r in c.all or r == c.true[par]:
            return False
        belief[j] = x
        return True
