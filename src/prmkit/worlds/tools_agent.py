"""``tools-noisy``: a scripted agent for the tool-use world that makes the errors agents make,
and the data sets made with it (benchmark, pools, pairwise cases).

The agent follows the task's canonical plan one slot per turn (search, lookup, ..., calculate,
answer) and reads what it needs from the observations of its own earlier turns: the id of the
item whose name is exactly what it searched for, the details in a lookup's observation, the
result of its calculation. With probability ``error_rate`` per turn it makes one error instead
(recorded in ``Turn.meta["error"]``, for analysis only):

- ``wrong_tool``: the right argument to the wrong tool (``lookup`` by name, ``search`` by id,
  a ``lookup`` instead of ``calculate``, a ``calculate`` instead of ``answer``);
- ``wrong_argument``: a plausible wrong argument (a search for a similar item's name, the id of
  a similar item listed in the search results, a wrong formula, another number as the answer);
- ``hallucinated_argument``: an argument that is in no observation (a made-up item name or id,
  a made-up number);
- ``misread``: a number read wrong from an observation (digits swapped or off by a little),
  used in a calculation or an answer;
- ``early_answer``: answering before the needed facts are in (a guess);
- ``repeat``: the previous action again.

Errors are carried forward as the arithmetic world's policy carries a wrong value: the agent
never notices them. The next slots read the (wrong or missing) observation of the slot that
went wrong: a similar item's details are used as the target's, a missing fact or result is
guessed, and a guess is never the truth. With the task's turn budget (no spare turn) and a
wrong answer ending the episode, an episode with an error fails, so Monte Carlo labels from the
agent's rollouts agree with :func:`~prmkit.worlds.tools.check_turns`. ``error_rate=0`` is a
perfect agent. Every injected error is one the checker catches; when a kind would not be
(rare), another kind is drawn.

Example:
    >>> from prmkit.worlds.tools import make_task, check_turns
    >>> task = make_task(0)
    >>> turns = play(task, NoisyToolsAgent(error_rate=0.0))
    >>> check_turns(task, turns).success, [t.action.name for t in turns]
    (True, ['search', 'lookup', 'search', 'lookup', 'answer'])
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from prmkit.envs.base import AGENTS, Agent, Environment
from prmkit.errors import PrmkitError
from prmkit.records import (
    META_CORRECT,
    META_GENERATOR,
    META_PROBLEM_ID,
    Problem,
    Solution,
    labels_from_first_error,
)
from prmkit.runs import derive_seed
from prmkit.trajectory import Action, ToolCall, Turn, parse_action, steps_from_turns
from prmkit.worlds.tools import (
    META_KEY,
    NOUNS,
    TOOL_SCHEMAS,
    ToolsEnv,
    ToolWorld,
    _words,
    calc_expression,
    check_turns,
    evaluate_expression,
    format_value,
    generate_tasks,
    lookalikes,
    normalize_answer,
    world_of,
)

__all__ = [
    "DEFAULT_ERROR_RATE",
    "ERROR_KINDS",
    "NoisyToolsAgent",
    "make_bench",
    "make_pairs",
    "make_pool",
    "play",
    "reference_turns",
]

ERROR_KINDS = ("wrong_tool", "wrong_argument", "hallucinated_argument", "misread", "early_answer", "repeat")
#: the agent alone succeeds on ~43% of the tasks at this rate (docs/worlds.md)
DEFAULT_ERROR_RATE = 0.18
GENERATOR = "prmkit-tools"

_SEARCH_HIT = re.compile(r"\[(P-\d+)\] ([^;]+)")
_LOOKUP = re.compile(
    r"^\[(P-\d+)\] (.+?) \| category: \S+ \| price: \$(\d+) \| stock: (\d+) \| discount: (\d+)%$"
)
_RESULT = re.compile(r"^Result: (-?\d+(?:\.\d+)?)$")


class _Belief:
    """What the agent takes from its own earlier turns, slot by slot of the plan."""

    __slots__ = ("facts", "ids", "result")

    def __init__(self, k: int) -> None:
        self.ids: list[str | None] = [None] * k
        self.facts: list[dict[str, Any] | None] = [None] * k
        self.result: Fraction | None = None


def _as_call(a: Action) -> ToolCall | None:
    if isinstance(a, ToolCall):
        return a
    p = parse_action(a)
    return p if isinstance(p, ToolCall) else None


def _belief(w: ToolWorld, turns: Sequence[Turn]) -> _Belief:
    b = _Belief(len(w.targets))
    for slot, (tool, k) in enumerate(w.plan[: len(turns)]):
        t = turns[slot]
        obs = t.observation or ""
        call = _as_call(t.action)
        if tool == "search":
            q = call.arguments.get("query") if call is not None and call.name == "search" else None
            if isinstance(q, str):
                want = " ".join(_words(q))
                b.ids[k] = next((i for i, nm in _SEARCH_HIT.findall(obs) if nm.strip() == want), None)
        elif tool == "lookup":
            m = _LOOKUP.match(obs)
            if m:
                b.facts[k] = {"id": m.group(1), "name": m.group(2), "price": int(m.group(3)),
                              "stock": int(m.group(4)), "discount": int(m.group(5))}  # fmt: skip
        elif tool == "calculate":
            m = _RESULT.match(obs)
            if m:
                b.result = Fraction(m.group(1))
    return b


def _misread(v: int | Fraction, rng: random.Random) -> Fraction:
    """A wrong reading of ``v``: digits swapped, or off by a little."""
    s = format_value(Fraction(v))
    digits = [i for i, c in enumerate(s) if c.isdigit()]
    if len(digits) >= 2 and rng.random() < 0.5:
        i = rng.randrange(len(digits) - 1)
        a, b = digits[i], digits[i + 1]
        if s[a] != s[b] and not (a == 0 and s[b] == "0"):
            t = list(s)
            t[a], t[b] = t[b], t[a]
            return Fraction("".join(t))
    return Fraction(v) + rng.choice((1, -1, 2, -2, 3, 5, 9, 10, -10))


def _guess_number(truth: Fraction | None, rng: random.Random, lo: int = 3, hi: int = 300) -> Fraction:
    g = Fraction(rng.randint(lo, hi))
    return g + 1 if truth is not None and g == truth else g


def _fake_id(w: ToolWorld, rng: random.Random) -> str:
    while True:
        i = f"P-{rng.randint(1000, 9999)}"
        if i not in w.by_id:
            return i


def _fmt(v: Fraction | int) -> str:
    return format_value(Fraction(v))


@AGENTS.register("tools-noisy")
class NoisyToolsAgent(Agent):
    """The noisy scripted agent of the tool world (see the module doc).

    ``error_rate``: probability of an error per turn (default :data:`DEFAULT_ERROR_RATE`);
    ``error_weights``: relative weights of the kinds (``{kind: weight}``, default equal);
    ``thoughts``: write a short thought before each action (default on).
    """

    def __init__(
        self,
        error_rate: float = DEFAULT_ERROR_RATE,
        error_weights: dict[str, float] | None = None,
        thoughts: bool = True,
    ) -> None:
        error_rate = float(error_rate)
        if not 0.0 <= error_rate <= 1.0:
            raise PrmkitError(f"error_rate must be in [0, 1], got {error_rate}", field="error_rate")
        weights = {k: 1.0 for k in ERROR_KINDS}
        if error_weights:
            bad = sorted(set(error_weights) - set(ERROR_KINDS))
            if bad:
                raise PrmkitError(f"unknown error kind {bad[0]!r}; known: {', '.join(ERROR_KINDS)}",
                                  field="error_weights")  # fmt: skip
            weights.update({k: float(v) for k, v in error_weights.items()})
            if any(v < 0 for v in weights.values()) or not any(v > 0 for v in weights.values()):
                raise PrmkitError("error_weights must be >= 0 with one > 0", field="error_weights")
        self.error_rate = error_rate
        self.weights = weights
        self.thoughts = bool(thoughts)

    # ---- the Agent interface
    def act(
        self, task: Problem, turns: Sequence[Turn], observation: str, n: int, *, seed: int = 0
    ) -> list[Turn]:
        return [
            self.propose(task, turns, random.Random(derive_seed(seed, task.id, len(turns), i)))
            for i in range(n)
        ]

    def propose(
        self, task: Problem, turns: Sequence[Turn], rng: random.Random, error: str | None = "auto"
    ) -> Turn:
        """One next turn. ``error``: ``"auto"`` (with probability ``error_rate``, a kind drawn by
        weight; when it is not possible here or the checker would not catch it, another kind),
        ``None`` (no error) or a kind (that kind only; when it is not possible here, the intended
        turn, without ``meta["error"]``)."""
        w = world_of(task)
        b = _belief(w, turns)
        t = len(turns)
        slot = w.plan[t] if t < len(w.plan) else ("answer", -1)
        if error == "auto":
            drawn = self._draw(slot[0], t, rng) if rng.random() < self.error_rate else None
            kinds = [] if drawn is None else [drawn, *[k for k in self._order(slot[0], t, rng) if k != drawn]]
        elif error is None:
            kinds = []
        elif error in ERROR_KINDS:
            kinds = [error]
        else:
            raise PrmkitError(f"unknown error kind {error!r}; known: {', '.join(ERROR_KINDS)}", field="error")
        for kind in kinds:  # the drawn kind, else another one the checker catches
            made = self._error(w, b, turns, slot, kind, rng)
            if made is not None and not check_turns(task, [*[x.action for x in turns], made[0]]).correct[-1]:
                return self._turn(made[0], made[1], {"error": kind})
        action, thought = self._intended(w, b, slot, rng)
        return self._turn(action, thought, {})

    def _turn(self, action: ToolCall, thought: str, meta: dict[str, Any]) -> Turn:
        return Turn(action=action, thought=thought if self.thoughts else None, meta=meta)

    # ---- choosing a kind
    def _possible(self, tool: str, t: int) -> list[str]:
        out = ["wrong_tool", "wrong_argument", "hallucinated_argument"]
        if tool in ("calculate", "answer"):
            out.append("misread")
        if tool != "answer":
            out.append("early_answer")
        if t >= 1:
            out.append("repeat")
        return [k for k in out if self.weights[k] > 0]

    def _draw(self, tool: str, t: int, rng: random.Random) -> str | None:
        kinds = self._possible(tool, t)
        if not kinds:
            return None
        return rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]

    def _order(self, tool: str, t: int, rng: random.Random) -> list[str]:
        kinds = self._possible(tool, t)
        rng.shuffle(kinds)
        return kinds

    # ---- the intended action (right given what the agent believes)
    def _facts(self, w: ToolWorld, b: _Belief, rng: random.Random) -> list[dict[str, Any]]:
        """The believed details of each target; a missing one is guessed (never the truth)."""
        out = []
        for k, f in enumerate(b.facts):
            if f is None:
                t = w.targets[k]
                f = {"id": _fake_id(w, rng), "name": t["name"],
                     "price": int(_guess_number(Fraction(t["price"]), rng)),
                     "stock": int(_guess_number(Fraction(t["stock"]), rng, 0, 120)),
                     "discount": rng.choice([d for d in (5, 10, 15, 20, 25, 30) if d != t["discount"]])}  # fmt: skip
            out.append(f)
        return out

    def _value(self, w: ToolWorld, b: _Belief, rng: random.Random) -> str:
        """The answer the agent believes (a guess, never the truth, when a fact is missing)."""
        if w.template == "cheaper":
            if b.facts[0] is not None and b.facts[1] is not None:
                f0, f1 = b.facts
                return f0["id"] if f0["price"] < f1["price"] else f1["id"]
            return self._wrong_id(w, b, rng)
        if w.calc_value is not None:
            if b.result is not None:
                return _fmt(b.result)
            return _fmt(_guess_number(w.answer_value, rng, 3, 2000))
        f = b.facts[0]
        if f is None:
            return _fmt(_guess_number(w.answer_value, rng, 0, 300))
        return _fmt(f["price"] if w.template == "price" else f["stock"])

    def _wrong_id(self, w: ToolWorld, b: _Belief, rng: random.Random) -> str:
        """An id answer that is not the truth: the other target when the agent saw its id."""
        seen = [f["id"] for f in b.facts if f is not None] + [i for i in b.ids if i is not None]
        wrong = [i for i in seen if normalize_answer(i) != w.answer_norm]
        return wrong[0] if wrong else _fake_id(w, rng)

    def _intended(
        self, w: ToolWorld, b: _Belief, slot: tuple[str, int], rng: random.Random
    ) -> tuple[ToolCall, str]:
        tool, k = slot
        if tool == "search":
            name = w.targets[k]["name"]
            return ToolCall("search", {"query": name}), f"I need the {name}; search the catalogue for it."
        if tool == "lookup":
            name = w.targets[k]["name"]
            iid = b.ids[k] or _fake_id(w, rng)
            return ToolCall("lookup", {"item_id": iid}), f"The {name} is {iid}; look up its details."
        if tool == "calculate":
            expr = self._expression(w, b, rng)
            return ToolCall("calculate", {"expression": expr}), f"Compute {expr}."
        v = self._value(w, b, rng)
        return ToolCall("answer", {"text": v}), f"The answer is {v}."

    def _expression(self, w: ToolWorld, b: _Belief, rng: random.Random) -> str:
        """The calculation from the believed details; guessed details never give the truth."""
        for _ in range(50):
            facts = self._facts(w, b, rng)
            expr = calc_expression(w.template, facts, w.quantity)
            if all(f is not None for f in b.facts) or _value_of(expr) != w.calc_value:
                return expr
        return expr  # pragma: no cover

    # ---- errors
    def _error(
        self,
        w: ToolWorld,
        b: _Belief,
        turns: Sequence[Turn],
        slot: tuple[str, int],
        kind: str,
        rng: random.Random,
    ) -> tuple[ToolCall, str] | None:
        tool, k = slot
        intended, thought = self._intended(w, b, slot, rng)
        if kind == "repeat":
            if not turns:
                return None
            prev = _as_call(turns[-1].action)
            return (prev, turns[-1].thought or thought) if prev is not None else None
        if kind == "early_answer":
            if tool == "answer":
                return None
            v = self._early_guess(w, b, rng)
            return ToolCall("answer", {"text": v}), f"The answer is {v}."
        if tool == "search":
            name = w.targets[k]["name"]
            if kind == "wrong_tool":
                return ToolCall("lookup", {"item_id": name}), f"Look up the {name}."
            if kind == "wrong_argument":
                tw = set(_words(name))
                conf = [x for x in lookalikes(w.items, w.targets[k]) if not tw <= set(_words(x["name"]))]
                if not conf:
                    return None
                return ToolCall("search", {"query": rng.choice(conf)["name"]}), thought
            if kind == "hallucinated_argument":
                present = {wd for it in w.items for wd in _words(it["name"])}
                nouns = [n for n in NOUNS if n not in present]
                words = _words(name)
                noun = next(x for x in words if x in NOUNS)
                q = " ".join(rng.choice(nouns) if x == noun else x for x in words)
                return ToolCall("search", {"query": q}), thought
            return None
        if tool == "lookup":
            iid = intended.arguments["item_id"]
            if kind == "wrong_tool":
                return ToolCall("search", {"query": iid}), f"Find the details of {iid}."
            if kind == "wrong_argument":
                obs = turns[w.plan.index(("search", k))].observation or ""
                sib = [i for i, _ in _SEARCH_HIT.findall(obs) if i != b.ids[k]]
                if b.ids[k] is None or not sib:
                    return None
                x = rng.choice(sib)
                return ToolCall("lookup", {"item_id": x}), thought.replace(iid, x)
            if kind == "hallucinated_argument":
                x = _fake_id(w, rng)
                return ToolCall("lookup", {"item_id": x}), thought.replace(iid, x)
            return None
        if tool == "calculate":
            facts = self._facts(w, b, rng)
            if kind == "wrong_tool":
                known = [f["id"] for f in b.facts if f is not None]
                if known:
                    return ToolCall("lookup", {"item_id": known[-1]}), "Check the details again."
                return ToolCall("search", {"query": intended.arguments["expression"]}), thought
            if kind == "wrong_argument":
                exprs = [e for e in _wrong_formulas(w, facts) if _value_of(e) != w.calc_value]
                if not exprs:
                    return None
                e = rng.choice(exprs)
                return ToolCall("calculate", {"expression": e}), f"Compute {e}."
            if kind in ("misread", "hallucinated_argument"):
                fields = _calc_fields(w.template)
                j, key = rng.choice(fields)
                f2 = [dict(f) for f in facts]
                old = f2[j][key]
                for _ in range(20):
                    new = _misread(old, rng) if kind == "misread" else _guess_number(Fraction(old), rng)
                    if new != old and new >= 0 and new.denominator == 1:
                        f2[j][key] = int(new)
                        e = calc_expression(w.template, f2, w.quantity)
                        if _value_of(e) != w.calc_value:
                            return ToolCall("calculate", {"expression": e}), f"Compute {e}."
                return None
            return None
        # answer
        v = intended.arguments["text"]
        if kind == "wrong_tool":
            if w.template == "cheaper":
                return ToolCall("lookup", {"item_id": v}), f"The cheaper one is {v}; check it."
            return ToolCall("calculate", {"expression": v}), f"Check {v}."
        if kind in ("wrong_argument", "misread", "hallucinated_argument"):
            x = self._wrong_answer(w, b, v, kind, rng)
            if x is None:
                return None
            return ToolCall("answer", {"text": x}), f"The answer is {x}."
        return None

    def _early_guess(self, w: ToolWorld, b: _Belief, rng: random.Random) -> str:
        if w.template == "cheaper":
            return self._wrong_id(w, b, rng)
        known = [f for f in b.facts if f is not None]
        cands = [f["price"] for f in known] + [f["stock"] for f in known]
        cands = [c for c in cands if normalize_answer(_fmt(c)) != w.answer_norm]
        if cands and rng.random() < 0.7:
            return _fmt(rng.choice(cands))  # e.g. the unit price for the total
        return _fmt(_guess_number(w.answer_value, rng, 3, 500))

    def _wrong_answer(self, w: ToolWorld, b: _Belief, v: str, kind: str, rng: random.Random) -> str | None:
        if w.template == "cheaper":
            x = self._wrong_id(w, b, rng) if kind != "hallucinated_argument" else _fake_id(w, rng)
            return x
        try:
            val = Fraction(normalize_answer(v))
        except (ValueError, ZeroDivisionError):
            val = None
        if kind == "misread" and val is not None:
            for _ in range(20):
                x = _misread(val, rng)
                if normalize_answer(_fmt(x)) != w.answer_norm:
                    return _fmt(x)
            return None
        if kind == "wrong_argument":
            known = [f for f in b.facts if f is not None]
            cands = [f[key] for f in known for key in ("price", "stock", "discount")]
            if w.quantity is not None:
                cands.append(w.quantity)
            cands = [c for c in cands if normalize_answer(_fmt(c)) != w.answer_norm]
            return _fmt(rng.choice(cands)) if cands else None
        return _fmt(_guess_number(w.answer_value, rng, 3, 500))


def _value_of(expr: str) -> Fraction | None:
    try:
        return evaluate_expression(expr)[0]
    except ValueError:
        return None


def _calc_fields(template: str) -> list[tuple[int, str]]:
    return {
        "cost": [(0, "price")],
        "discount": [(0, "price"), (0, "discount")],
        "sum": [(0, "price"), (1, "price")],
        "stock_diff": [(0, "stock"), (1, "stock")],
    }[template]


def _wrong_formulas(w: ToolWorld, facts: list[dict[str, Any]]) -> list[str]:
    a = facts[0]
    q = w.quantity
    if w.template == "cost":
        return [f"{q} + {a['price']}", f"{a['price']}"]
    if w.template == "discount":
        p, d = a["price"], a["discount"]
        return [f"{q} * {p}", f"{q} * {p} - {d}", f"{q} * {p} * {d} / 100", f"{p} * (100 - {d}) / 100"]
    b = facts[1]
    if w.template == "sum":
        return [f"{a['price']} - {b['price']}", f"{a['price']} * {b['price']}"]
    return [f"{b['stock']} - {a['stock']}", f"{a['stock']} + {b['stock']}"]


# ---------------------------------------------------------------- episodes and data sets


def play(task: Problem, agent: Agent, *, seed: int = 0, env: Environment | None = None) -> list[Turn]:
    """Play one episode of ``task`` with ``agent``; the turns with their observations."""
    env = env if env is not None else ToolsEnv()
    obs = env.reset(task)
    turns: list[Turn] = []
    while not env.done:
        t = agent.act(task, turns, obs, 1, seed=derive_seed(seed, len(turns)))[0]
        r = env.step(t.action)
        obs = r.observation
        turns.append(Turn(action=t.action, observation=obs, thought=t.thought, meta=t.meta))
    return turns


def reference_turns(task: Problem) -> list[Turn]:
    """The perfect agent's episode (``error_rate=0``)."""
    return play(task, NoisyToolsAgent(error_rate=0.0))


def _errors(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    return [{"turn": i, "kind": t.meta["error"]} for i, t in enumerate(turns) if t.meta.get("error")]


def _solution(task: Problem, turns: list[Turn], index: int, *, labels: str = "first_error") -> Solution:
    chk = check_turns(task, turns)
    fe = chk.first_error
    n = len(turns)
    if labels == "first_error":
        lab = labels_from_first_error(fe, n)
    else:  # prefix correctness
        lab = [1.0] * n if fe < 0 else [1.0] * fe + [0.0] * (n - fe)
    meta: dict[str, Any] = {
        META_PROBLEM_ID: task.id,
        META_CORRECT: chk.success,
        META_GENERATOR: GENERATOR,
        "errors": _errors(turns),
        META_KEY: task.meta[META_KEY],
    }
    if chk.answer is not None:
        meta["env_answer"] = chk.answer
    if labels != "first_error":
        meta["step_correct"] = chk.correct
    return Solution(
        id=f"{task.id}#{index}",
        problem=task.question,
        steps=steps_from_turns(turns),
        answer="success" if chk.success else "failure",
        reference_answer=task.reference_answer,
        labels=lab,
        meta=meta,
        turns=turns,
    )


def make_bench(
    n: int,
    seed: int,
    *,
    wrong_fraction: float = 0.5,
    error_rate: float = DEFAULT_ERROR_RATE,
    tasks: Sequence[Problem] | None = None,
    **task_options: Any,
) -> list[Solution]:
    """ProcessBench-style records: one agent trajectory per task, ``round(wrong_fraction * n)``
    of them with an error (when the agent makes one within 200 tries).

    Records are canonical Solutions with ``turns`` (steps derived from them), ``labels`` (1 before
    the first error, 0 at it, ``None`` after), ``answer`` ``"success"``/``"failure"``,
    ``meta["correct"]`` (the episode succeeded), ``meta["errors"]`` (the agent's injected errors:
    ``{"turn", "kind"}``), ``meta["env_answer"]`` and the spec in ``meta["tools"]``.

    Example:
        >>> recs = make_bench(10, seed=0)
        >>> sum(r.first_error >= 0 for r in recs), recs[0].turns is not None
        (5, True)
    """
    if not 0.0 <= wrong_fraction <= 1.0:
        raise PrmkitError(f"wrong_fraction must be in [0, 1], got {wrong_fraction}", field="wrong_fraction")
    tasks = list(tasks) if tasks is not None else generate_tasks(n, seed, **task_options)
    agent = NoisyToolsAgent(error_rate=error_rate)
    env = ToolsEnv()
    rng = random.Random(f"tools-bench:{seed}")
    n_wrong = round(wrong_fraction * len(tasks))
    wants = [True] * n_wrong + [False] * (len(tasks) - n_wrong)
    rng.shuffle(wants)
    out = []
    for task, want_wrong in zip(tasks, wants, strict=True):
        turns: list[Turn] = []
        for attempt in range(200):
            turns = play(task, agent, seed=derive_seed(seed, task.id, attempt), env=env)
            if (check_turns(task, turns).first_error >= 0) == want_wrong:
                break
        out.append(_solution(task, turns, 0))
    return out


def make_pool(tasks: Sequence[Problem], n: int, agent: Agent | None = None, seed: int = 0) -> list[Solution]:
    """``n`` agent trajectories per task with exact correctness (best-of-N pools).

    Each record: ``answer`` (``"success"``/``"failure"``), ``meta["correct"]``, ``labels`` =
    prefix correctness (1 before the first error, 0 from it on), ``meta["step_correct"]`` (each
    step judged on its own), ``meta["errors"]``, ``meta["tools"]``.
    """
    agent = agent if agent is not None else NoisyToolsAgent()
    env = ToolsEnv()
    out = []
    for task in tasks:
        for i in range(n):
            turns = play(task, agent, seed=derive_seed(seed, task.id, i), env=env)
            out.append(_solution(task, turns, i, labels="prefix"))
    return out


def make_pairs(
    n: int,
    seed: int,
    *,
    tasks: Sequence[Problem] | None = None,
    kinds: Sequence[str] = ERROR_KINDS,
    **task_options: Any,
) -> list[dict[str, Any]]:
    """ToolPRMBench-style pairwise cases, one per task: at a turn of the perfect trajectory, the
    correct next turn and a plausible incorrect one of one error kind (kinds taken in turn).

    Each case (JSON)::

        {"id": "tools-0-3#p", "task": question text,
         "history": [turn dicts with observations, the perfect trajectory before the turn],
         "correct": {"thought", "action"}, "incorrect": {"thought", "action"},
         "error": kind, "tools": [OpenAI function schemas],
         "problem_id": task id, "turn": index of the judged turn, "answer": the true answer,
         "reason": the checker's reason the incorrect turn is wrong, "spec": the task's spec}

    A turn dict is :meth:`prmkit.trajectory.Turn.to_dict` (``action`` a string or
    ``{"name", "arguments"}``). The checker judges ``correct`` right and ``incorrect`` wrong.
    """
    kinds = list(kinds)
    bad = [k for k in kinds if k not in ERROR_KINDS]
    if bad or not kinds:
        raise PrmkitError(f"unknown error kind {bad[0] if bad else '(none)'!r}", field="kinds")
    tasks = list(tasks) if tasks is not None else generate_tasks(n, seed, **task_options)
    perfect = NoisyToolsAgent(error_rate=0.0)
    noisy = NoisyToolsAgent(error_rate=1.0)
    rng = random.Random(f"tools-pairs:{seed}")
    out = []
    for j, task in enumerate(tasks):
        ref = reference_turns(task)
        want = kinds[j % len(kinds)]
        order = list(range(len(ref)))
        rng.shuffle(order)
        case = None
        for t in order:  # a turn where the wanted kind is possible, else any kind at the first turn
            hist = ref[:t]
            bad_turn = noisy.propose(task, hist, rng, error=want)
            if bad_turn.meta.get("error") == want:
                case = (t, bad_turn)
                break
        if case is None:
            t = order[0]
            case = (t, noisy.propose(task, ref[:t], rng, error="auto"))
        t, bad_turn = case
        good = perfect.propose(task, ref[:t], rng, error=None)
        chk = check_turns(task, [*[x.action for x in ref[:t]], bad_turn.action])
        assert check_turns(task, [*[x.action for x in ref[:t]], good.action]).correct[-1]
        assert not chk.correct[-1]
        out.append(
            {
                "id": f"{task.id}#p",
                "task": task.question,
                "history": [x.to_dict() for x in ref[:t]],
                "correct": Turn(action=good.action, thought=good.thought).to_dict(),
                "incorrect": Turn(action=bad_turn.action, thought=bad_turn.thought).to_dict(),
                "error": bad_turn.meta["error"],
                "tools": TOOL_SCHEMAS,
                META_PROBLEM_ID: task.id,
                "turn": t,
                "answer": task.meta["answer"],
                "reason": chk.reasons[-1],
                "spec": task.meta[META_KEY],
            }
        )
    return out
