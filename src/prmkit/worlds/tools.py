"""The tool-use world: shop questions answered by calling tools, with exact step truth.

Each task is a small shop catalogue (items with an id, a name, a category, a price, a stock and
a discount) and a question that needs 3-6 tool calls: ``search`` the catalogue for an item by
name, ``lookup`` an item's details by id, ``calculate`` an arithmetic expression, ``answer``.
:class:`ToolsEnv` (environment ``tools``) plays them with text observations; :func:`check_turns`
decides for ANY sequence of actions whether each one is correct; the noisy scripted agent
``tools-noisy`` lives in :mod:`prmkit.worlds.tools_agent`.

Example:
    >>> task = make_task(0)
    >>> env = ToolsEnv()
    >>> obs = env.reset(task)
    >>> for a in reference_actions(task):
    ...     r = env.step(a)
    >>> env.success, check_turns(task, reference_actions(task)).first_error
    (True, -1)
    >>> check_turns(task, [ToolCall("answer", {"text": "-1"})]).reasons
    ["answers '-1', the answer is '...'"]

**Tasks** (``make_task(seed)``, ``generate_tasks(n, seed)``; task ``i`` depends on ``(seed, i)``
only). Templates: ``price`` and ``stock`` of an item (search, lookup, answer: 3 turns); ``cost``
of ``q`` units and ``discount`` (cost after the item's discount) (+ calculate: 4 turns);
``sum`` of two prices and ``stock_diff`` of two stocks (two searches, two lookups, calculate,
answer: 6 turns); ``cheaper`` of two items, answered with its id (5 turns). A task is a
:class:`~prmkit.records.Problem` with ``reference_answer="success"`` (the environment grades) and
``meta = {"tools": spec, "answer": true answer, "tool_schemas": TOOL_SCHEMAS}``; the spec
(JSON) holds the catalogue, the template, the target ids and the quantity, so any process
rebuilds the task from the record. The turn budget of a task is the length of its canonical plan
(no slack): an episode that has not answered after ``budget`` turns ends unsuccessful.

**The checker rule** (:func:`check_turns`). Going through the actions with what the correct
steps so far revealed (target ids seen in search results, target details looked up, values
computed, the numbers of the question), a step is **correct** iff

1. it is within the turn budget and the episode has not ended;
2. it is a valid call of a known tool (the environment answers an invalid call with an
   ``Error: ...`` observation);
3. ``answer``: the answer equals the true answer (normalised: case, ``$``, ``,``, trailing
   ``.``, ``64.80`` = ``64.8``);
   ``search``: its results reveal the id of a target item not revealed before;
   ``lookup``: the id is a target item whose details were not looked up before;
   ``calculate``: every number in the expression is known (a number of the question, a detail
   of a looked-up target, an earlier result, or the constants 1 and 100) and the value is the
   quantity the task needs, not computed before.

Every other action (a wrong tool, a wrong or made-up argument, a misread number, an early
answer, a repeated action, a lookup of a similar item) is an error. Such an action is never
harmless here: the budget has no spare turn, so after it the canonical plan no longer fits. (One
exception, documented: an agent that does the arithmetic itself and answers without
``calculate`` saves a turn, so it could absorb one wasted action; the checker still counts the
wasted action as an error.) Only correct steps add to what is known, so a wrong value stays
wrong downstream. A lucky answer is judged by its value: a right answer ends the episode in
success and is correct. ``Turn.meta`` (where the agent records its injected errors) is never
read.
"""

from __future__ import annotations

import ast
import copy
import random
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from prmkit.envs.base import ENVIRONMENTS, INFO_ANSWER, INFO_SUCCESS, Environment, EnvStep
from prmkit.errors import PrmkitError
from prmkit.records import Problem, labels_from_first_error
from prmkit.trajectory import Action, ToolCall, Turn, parse_action

__all__ = [
    "META_KEY",
    "SPEC_VERSION",
    "TEMPLATES",
    "TOOL_SCHEMAS",
    "ToolWorld",
    "ToolsEnv",
    "TurnCheck",
    "check_turns",
    "evaluate_expression",
    "format_value",
    "generate_tasks",
    "make_task",
    "normalize_answer",
    "reference_actions",
    "world_of",
]

#: the key of a task's ``meta`` holding the spec
META_KEY = "tools"
SPEC_VERSION = 1

#: template -> number of target items
TEMPLATES: dict[str, int] = {
    "price": 1,
    "stock": 1,
    "cost": 1,
    "discount": 1,
    "sum": 2,
    "stock_diff": 2,
    "cheaper": 2,
}
_CALC_TEMPLATES = ("cost", "discount", "sum", "stock_diff")

#: the tools, as OpenAI function schemas (what a chat format renders)
TOOL_SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the shop catalogue. Returns the items whose names contain every word "
            "of the query, as '[id] name' entries.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "words of the item's name"}},
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "The details of one item: name, category, price in dollars, units in stock, "
            "discount in percent.",
            "parameters": {
                "type": "object",
                "properties": {"item_id": {"type": "string", "description": "the item's id, e.g. P-1042"}},
                "required": ["item_id"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "calculate",
            "description": "Evaluate an arithmetic expression with numbers, + - * / and parentheses.",
            "parameters": {
                "type": "object",
                "properties": {
                    "expression": {"type": "string", "description": "e.g. 3 * 24 * (100 - 10) / 100"}
                },
                "required": ["expression"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "answer",
            "description": "Give the final answer; this ends the task.",
            "parameters": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "description": "the answer: a number or an item id"}
                },
                "required": ["text"],
                "additionalProperties": False,
            },
        },
    },
]
_PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOL_SCHEMAS}

NOUNS: dict[str, str] = {
    "kettle": "kitchen", "mug": "kitchen", "teapot": "kitchen", "bowl": "kitchen", "skillet": "kitchen",
    "lamp": "lighting", "lantern": "lighting", "chair": "furniture", "stool": "furniture",
    "shelf": "furniture", "desk": "furniture", "backpack": "bags", "wallet": "bags", "tote": "bags",
    "scarf": "clothing", "jacket": "clothing", "blanket": "home", "vase": "home", "clock": "home",
    "notebook": "office", "planner": "office", "bottle": "outdoor", "tent": "outdoor",
}  # fmt: skip
COLORS = ("red", "blue", "green", "black", "white", "grey", "yellow", "orange", "purple", "brown", "pink",
          "silver")  # fmt: skip
MATERIALS = ("steel", "glass", "ceramic", "wooden", "cotton", "leather", "plastic", "bamboo", "copper", "wool",
             "stone", "linen")  # fmt: skip
SIZES = ("small", "large", "mini", "tall")
SUFFIXES = ("set", "lid", "cover", "refill", "pack", "kit")
DISCOUNTS = (0, 5, 10, 15, 20, 25, 30)
_MAX_RESULTS = 8
_MAX_EXPR = 200


# ---------------------------------------------------------------- numbers and answers


def format_value(v: Fraction) -> str:
    """A number as the tools print it: ``36``, ``64.8``, ``-3``; non-terminating decimals are
    rounded to 6 places.

    Example:
        >>> format_value(Fraction(324, 5)), format_value(Fraction(36)), format_value(Fraction(1, 3))
        ('64.8', '36', '0.333333')
    """
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        s = format(Decimal(v.numerator) / Decimal(v.denominator), "f")
    else:
        s = format(round(Decimal(v.numerator) / Decimal(v.denominator), 6), "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def normalize_answer(text: str) -> str:
    """The form answers are compared in: lower case, no ``$`` or thousands commas, no trailing
    ``.``, numbers in their shortest form.

    Example:
        >>> normalize_answer(" $1,064.80. "), normalize_answer("P-1042"), normalize_answer("36.0")
        ('1064.8', 'p-1042', '36')
    """
    s = " ".join(str(text).strip().lower().split())
    s = s.rstrip(".").strip().replace("$", "").replace(",", "").strip()
    try:
        d = Decimal(s)
    except InvalidOperation:
        return s
    if not d.is_finite():
        return s
    return format_value(Fraction(d))


_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}


def evaluate_expression(expr: str) -> tuple[Fraction, list[Fraction]]:
    """Exact value of an arithmetic expression and the numbers it uses.

    Numbers, ``+ - * /``, unary minus and parentheses only; anything else raises ``ValueError``
    with a short reason.

    Example:
        >>> v, nums = evaluate_expression("3 * 24 * (100 - 10) / 100")
        >>> format_value(v), [str(n) for n in nums]
        ('64.8', ['3', '24', '100', '10', '100'])
    """
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("empty expression")
    if len(expr) > _MAX_EXPR:
        raise ValueError(f"expression longer than {_MAX_EXPR} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise ValueError("not an arithmetic expression") from None
    nums: list[Fraction] = []

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            x = Fraction(str(node.value))
            nums.append(x)
            return x
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Div):
                if b == 0:
                    raise ValueError("division by zero")
                return a / b
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise ValueError("only + - * / are allowed")
            r = op(a, b)
            if abs(r) > 10**15:
                raise ValueError("number too large")
            return r
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            x = ev(node.operand)
            return -x if isinstance(node.op, ast.USub) else x
        raise ValueError("only numbers, + - * / and parentheses are allowed")

    return ev(tree.body), nums


# ---------------------------------------------------------------- the world of one task


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@dataclass
class CallResult:
    """What a tool call did: its observation, an error (invalid call) and what it revealed."""

    observation: str
    error: str | None = None
    tool: str | None = None
    results: list[str] = field(default_factory=list)  # search: ids listed
    item: dict[str, Any] | None = None  # lookup: the item
    value: Fraction | None = None  # calculate: the result
    numbers: list[Fraction] = field(default_factory=list)  # calculate: the numbers used
    answer: str | None = None  # answer: the text


class ToolWorld:
    """One task's catalogue, question, plan and tools (built from the spec; see module doc)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        if not isinstance(spec, dict) or spec.get("version") != SPEC_VERSION:
            raise PrmkitError(f"not a tool-world spec (version {SPEC_VERSION})", field=f"meta.{META_KEY}")
        self.spec = spec
        self.items: list[dict[str, Any]] = spec["items"]
        self.by_id = {it["id"]: it for it in self.items}
        self._name_words = [(it, set(_words(it["name"]))) for it in self.items]
        self.template: str = spec["template"]
        if self.template not in TEMPLATES:
            raise PrmkitError(f"unknown template {self.template!r}", field=f"meta.{META_KEY}.template")
        self.targets = [self.by_id[i] for i in spec["targets"]]
        self.target_ids = list(spec["targets"])
        self.quantity: int | None = spec.get("quantity")
        self.answer, self.answer_value = _true_answer(self.template, self.targets, self.quantity)
        self.answer_norm = normalize_answer(self.answer)
        #: the value ``calculate`` must produce (``None``: the template needs no calculation)
        self.calc_value = self.answer_value if self.template in _CALC_TEMPLATES else None
        self.plan = _plan(self.template)
        self.budget = len(self.plan)
        self.question = _question(spec, self.targets)
        self.given_numbers = {Fraction(self.quantity)} if self.quantity is not None else set()

    # ---- tools
    def search(self, query: str) -> list[dict[str, Any]]:
        """Items whose names contain every word of ``query`` (by id), at most 8."""
        q = set(_words(query))
        if not q:
            return []
        hits = [it for it, ws in self._name_words if q <= ws]
        return sorted(hits, key=lambda it: it["id"])[:_MAX_RESULTS]

    def call(self, action: Action) -> CallResult:
        """Run one action; an invalid call gives an ``Error: ...`` observation (never raises)."""
        if isinstance(action, str):
            action = parse_action(action)
            if isinstance(action, str):
                return _err(
                    f"not a tool call: {action[:60]!r}; call one of search, lookup, calculate, answer"
                )
        name, args = action.name, action.arguments
        params = _PARAMS.get(name)
        if params is None:
            return _err(f"unknown tool {name!r}; tools: search, lookup, calculate, answer")
        for key in params["required"]:
            if key not in args:
                return _err(f"{name} needs the argument {key!r}", name)
            if not isinstance(args[key], str):
                return _err(f"{name}: argument {key!r} must be a string", name)
        extra = sorted(set(args) - set(params["properties"]))
        if extra:
            return _err(f"{name}: unexpected argument {extra[0]!r}", name)
        arg = args[params["required"][0]]
        if name == "search":
            if not _words(arg):
                return _err("search needs a non-empty query", name)
            hits = self.search(arg)
            if not hits:
                return CallResult(f'No items match "{arg}".', tool=name)
            listing = "; ".join(f"[{it['id']}] {it['name']}" for it in hits)
            noun = "item" if len(hits) == 1 else "items"
            return CallResult(f'Found {len(hits)} {noun} for "{arg}": {listing}', tool=name,
                              results=[it["id"] for it in hits])  # fmt: skip
        if name == "lookup":
            it = self.by_id.get(arg.strip().upper())
            if it is None:
                return _err(f"no item with id {arg!r}", name)
            return CallResult(item_text(it), tool=name, item=it)
        if name == "calculate":
            try:
                v, nums = evaluate_expression(arg)
            except ValueError as e:
                return _err(f"cannot evaluate {arg[:60]!r}: {e}", name)
            return CallResult(f"Result: {format_value(v)}", tool=name, value=v, numbers=nums)
        return CallResult(f"Answer submitted: {arg}", tool=name, answer=arg)


def _err(msg: str, tool: str | None = None) -> CallResult:
    return CallResult(f"Error: {msg}", error=msg, tool=tool)


def lookalikes(items: Sequence[dict[str, Any]], target: dict[str, Any]) -> list[dict[str, Any]]:
    """Items an agent may mistake for ``target``: *siblings* (their names contain every word of
    the target's, so a search for the target lists them) and *confusables* (same noun, all but
    one of the target's words and a word the target lacks, so a search for them never lists the
    target).

    Example:
        >>> its = [{"name": "blue steel kettle"}, {"name": "blue steel kettle lid"},
        ...        {"name": "red steel kettle"}, {"name": "blue steel mug"}]
        >>> [it["name"] for it in lookalikes(its, its[0])]
        ['blue steel kettle lid', 'red steel kettle']
    """
    tw = set(_words(target["name"]))
    noun = next((w for w in tw if w in NOUNS), None)
    out = []
    for it in items:
        if it is target or it["name"] == target["name"]:
            continue
        ws = set(_words(it["name"]))
        if tw <= ws or (noun in ws and len(ws & tw) >= len(tw) - 1 and ws - tw):
            out.append(it)
    return out


def item_text(it: dict[str, Any]) -> str:
    """The ``lookup`` observation of an item."""
    return (
        f"[{it['id']}] {it['name']} | category: {it['category']} | price: ${it['price']} | "
        f"stock: {it['stock']} | discount: {it['discount']}%"
    )


def _plan(template: str) -> list[tuple[str, int]]:
    """The canonical plan: (tool, target index) per turn (-1: not about one target)."""
    k = TEMPLATES[template]
    plan: list[tuple[str, int]] = []
    for i in range(k):
        plan += [("search", i), ("lookup", i)]
    if template in _CALC_TEMPLATES:
        plan.append(("calculate", -1))
    plan.append(("answer", -1))
    return plan


def _true_answer(
    template: str, targets: Sequence[dict[str, Any]], q: int | None
) -> tuple[str, Fraction | None]:
    a = targets[0]
    if template == "price":
        v = Fraction(a["price"])
    elif template == "stock":
        v = Fraction(a["stock"])
    elif template == "cost":
        v = Fraction(q) * a["price"]
    elif template == "discount":
        v = Fraction(q) * a["price"] * (100 - a["discount"]) / 100
    elif template == "sum":
        v = Fraction(a["price"] + targets[1]["price"])
    elif template == "stock_diff":
        v = Fraction(a["stock"] - targets[1]["stock"])
    else:  # cheaper
        b = targets[1]
        return (a["id"] if a["price"] < b["price"] else b["id"]), None
    return format_value(v), v


def calc_expression(template: str, facts: Sequence[dict[str, Any]], q: int | None) -> str:
    """The canonical ``calculate`` expression from the targets' details (as read)."""
    a = facts[0]
    if template == "cost":
        return f"{q} * {a['price']}"
    if template == "discount":
        return f"{q} * {a['price']} * (100 - {a['discount']}) / 100"
    if template == "sum":
        return f"{a['price']} + {facts[1]['price']}"
    if template == "stock_diff":
        return f"{a['stock']} - {facts[1]['stock']}"
    raise PrmkitError(f"template {template!r} needs no calculation")


def _question(spec: dict[str, Any], targets: Sequence[dict[str, Any]]) -> str:
    t = spec["template"]
    a = targets[0]["name"]
    b = targets[1]["name"] if len(targets) > 1 else ""
    q = spec.get("quantity")
    body = {
        "price": f"What is the price of the {a}, in dollars?",
        "stock": f"How many units of the {a} are in stock?",
        "cost": f"How much do {q} units of the {a} cost in total, in dollars, before any discount?",
        "discount": f"The {a} is on sale at its listed discount. How much do {q} units of it cost "
        "after the discount, in dollars?",
        "sum": f"How much do one {a} and one {b} cost together, in dollars?",
        "stock_diff": f"How many more units of the {a} than of the {b} are in stock?",
        "cheaper": f"Which is cheaper, the {a} or the {b}? Answer with its item id.",
    }[t]
    return f"[{spec['shop']}] {body}"


_CACHE: OrderedDict[str, tuple[dict[str, Any], ToolWorld]] = OrderedDict()
_CACHE_SIZE = 4096


def world_of(task: Problem) -> ToolWorld:
    """The :class:`ToolWorld` of a task (from ``task.meta["tools"]``; cached per task id)."""
    spec = task.meta.get(META_KEY) if isinstance(task.meta, dict) else None
    if spec is None:
        raise PrmkitError(f"task {task.id!r} has no meta[{META_KEY!r}] spec", field=f"meta.{META_KEY}")
    hit = _CACHE.get(task.id)
    if hit is not None and (hit[0] is spec or hit[0] == spec):
        return hit[1]
    w = ToolWorld(spec)
    _CACHE[task.id] = (spec, w)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return w


# ---------------------------------------------------------------- generation


def make_task(seed: int, index: int = 0, *, templates: Sequence[str] | None = None) -> Problem:
    """Task ``index`` of ``seed`` (deterministic; see module doc).

    Example:
        >>> t = make_task(3)
        >>> t.id, t.reference_answer, sorted(t.meta)
        ('tools-3-0', 'success', ['answer', 'tool_schemas', 'tools'])
    """
    names = list(templates) if templates else list(TEMPLATES)
    bad = [t for t in names if t not in TEMPLATES]
    if bad:
        raise PrmkitError(f"unknown template {bad[0]!r}; known: {', '.join(TEMPLATES)}", field="templates")
    rng = random.Random(f"tools:{seed}:{index}")
    template = names[rng.randrange(len(names))]
    for _ in range(200):
        spec = _try_spec(rng, template, f"shop {seed}-{index}")
        if spec is not None:
            break
    else:  # pragma: no cover - the constraints are loose
        raise PrmkitError(f"could not generate task {seed}-{index}")
    w = ToolWorld(spec)
    return Problem(
        id=f"tools-{seed}-{index}",
        question=w.question,
        reference_answer="success",
        meta={META_KEY: spec, "answer": w.answer, "tool_schemas": copy.deepcopy(TOOL_SCHEMAS)},
    )


def generate_tasks(n: int, seed: int, *, templates: Sequence[str] | None = None) -> list[Problem]:
    """``n`` tasks; task ``i`` is ``make_task(seed, i)``."""
    if n < 0:
        raise PrmkitError(f"n must be >= 0, got {n}", field="n")
    return [make_task(seed, i, templates=templates) for i in range(n)]


def _name(size: str | None, color: str, material: str, noun: str, suffix: str | None = None) -> str:
    return " ".join(w for w in (size, color, material, noun, suffix) if w)


def _try_spec(rng: random.Random, template: str, shop: str) -> dict[str, Any] | None:
    k = TEMPLATES[template]
    nouns = list(NOUNS)
    # targets: (size, color, material, noun); two targets share no word
    tgt: list[tuple[str | None, str, str, str]] = []
    for _ in range(k):
        used = {w for t in tgt for w in t if w}
        size = rng.choice(SIZES) if rng.random() < 0.3 else None
        if size in used:
            size = None
        color = rng.choice([c for c in COLORS if c not in used])
        material = rng.choice([m for m in MATERIALS if m not in used])
        noun = rng.choice([n for n in nouns if n not in used])
        tgt.append((size, color, material, noun))
    names: dict[str, str] = {}  # name -> role ("t0", "s0", "c0", "d")
    for i, (size, color, material, noun) in enumerate(tgt):
        names[_name(size, color, material, noun)] = f"t{i}"
        opts = [_name(size, color, material, noun, s) for s in SUFFIXES]
        if size is None:
            opts += [_name(s, color, material, noun) for s in SIZES]
        for nm in rng.sample(opts, rng.randint(1, 2)):
            names[nm] = f"s{i}"
        for _ in range(rng.randint(1, 2)):
            if rng.random() < 0.5:
                nm = _name(size, rng.choice([c for c in COLORS if c != color]), material, noun)
            else:
                nm = _name(size, color, rng.choice([m for m in MATERIALS if m != material]), noun)
            names.setdefault(nm, f"c{i}")
    target_words = [set(_words(_name(*t))) for t in tgt]
    for _ in range(rng.randint(5, 9)):
        nm = _name(
            rng.choice(SIZES) if rng.random() < 0.2 else None,
            rng.choice(COLORS),
            rng.choice(MATERIALS),
            rng.choice(nouns),
            rng.choice(SUFFIXES) if rng.random() < 0.15 else None,
        )
        ws = set(_words(nm))
        if nm in names or any(tw <= ws for tw in target_words):
            continue
        names[nm] = "d"
    order = list(names)
    rng.shuffle(order)
    ids = rng.sample(range(1000, 10000), len(order))
    prices = rng.sample(range(3, 300), len(order))
    stocks = rng.sample(range(0, 120), len(order))
    items = []
    for nm, i, p, s in zip(order, ids, prices, stocks, strict=True):
        noun = next(w for w in _words(nm) if w in NOUNS)
        items.append({"id": f"P-{i}", "name": nm, "category": NOUNS[noun], "price": p, "stock": s,
                      "discount": rng.choice(DISCOUNTS)})  # fmt: skip
    by_name = {it["name"]: it for it in items}
    targets = [by_name[_name(*t)] for t in tgt]
    if template == "discount" and targets[0]["discount"] == 0:
        targets[0]["discount"] = rng.choice(DISCOUNTS[1:])
    if template == "stock_diff" and targets[0]["stock"] <= targets[1]["stock"]:
        targets[0]["stock"], targets[1]["stock"] = targets[1]["stock"], targets[0]["stock"]
        if targets[0]["stock"] == targets[1]["stock"]:
            return None
    if template == "cheaper":
        # the dearer target's look-alikes are cheaper than the cheaper target, so a mix-up of
        # either target with one of its look-alikes always changes the answer
        c = rng.randrange(2)
        cheap, dear = targets[c], targets[1 - c]
        look = lookalikes(items, dear)
        pc = rng.randint(40, 200)
        pd = rng.randint(pc + 5, pc + 100)
        pool = [p for p in range(3, pc)]
        if len(pool) < len(look):
            return None
        fixed = {id(cheap): pc, id(dear): pd}
        for x, p in zip(look, rng.sample(pool, len(look)), strict=True):
            fixed[id(x)] = p
        taken = set(fixed.values())
        if len(taken) != len(fixed):
            return None
        rest = [p for p in range(3, 400) if p not in taken]
        others = [it for it in items if id(it) not in fixed]
        for it, p in zip(others, rng.sample(rest, len(others)), strict=True):
            it["price"] = p
        for it in items:
            it["price"] = fixed.get(id(it), it["price"])
    spec: dict[str, Any] = {
        "version": SPEC_VERSION,
        "shop": shop,
        "template": template,
        "items": items,
        "targets": [t["id"] for t in targets],
        "quantity": rng.randint(2, 9) if template in ("cost", "discount") else None,
    }
    # a mix-up with any look-alike (sibling or confusable) must change the answer
    truth, _ = _true_answer(template, targets, spec["quantity"])
    for i, t in enumerate(targets):
        for x in lookalikes(items, t):
            swapped = list(targets)
            swapped[i] = x
            if _true_answer(template, swapped, spec["quantity"])[0] == truth:
                return None
    return spec


def reference_actions(task: Problem) -> list[ToolCall]:
    """The canonical solution's actions (the perfect agent's; computed from the spec)."""
    w = world_of(task)
    out: list[ToolCall] = []
    for tool, k in w.plan:
        if tool == "search":
            out.append(ToolCall("search", {"query": w.targets[k]["name"]}))
        elif tool == "lookup":
            out.append(ToolCall("lookup", {"item_id": w.targets[k]["id"]}))
        elif tool == "calculate":
            out.append(
                ToolCall("calculate", {"expression": calc_expression(w.template, w.targets, w.quantity)})
            )
        else:
            out.append(ToolCall("answer", {"text": w.answer}))
    return out


# ---------------------------------------------------------------- the checker


@dataclass
class TurnCheck:
    """The checker's verdicts: ``correct`` per step, ``reasons`` (``None`` for a correct step),
    ``first_error`` (-1 when none), ``answer`` (the answer given, if any), ``success`` (the
    episode ended with the right answer)."""

    correct: list[bool]
    reasons: list[str | None]
    first_error: int
    answer: str | None = None
    success: bool = False

    @property
    def labels(self) -> list[float | None]:
        """ProcessBench labels: 1 before the first error, 0 at it, ``None`` after."""
        return labels_from_first_error(self.first_error, len(self.correct))


class _Knowledge:
    """What the correct steps so far revealed."""

    __slots__ = ("computed", "ended", "ids", "looked", "numbers")

    def __init__(self, w: ToolWorld) -> None:
        self.ids: set[str] = set()
        self.looked: set[str] = set()
        self.computed: set[Fraction] = set()
        self.numbers: set[Fraction] = {Fraction(1), Fraction(100), *w.given_numbers}
        self.ended = False


def _judge(w: ToolWorld, kn: _Knowledge, i: int, action: Action) -> tuple[str | None, CallResult | None]:
    """The reason step ``i`` is wrong (``None``: correct), updating ``kn`` when it is correct."""
    if kn.ended:
        return "after the episode ended", None
    if i >= w.budget:
        return f"past the turn budget ({w.budget} turns)", None
    r = w.call(action)
    if r.error is not None:
        return f"invalid call: {r.error}", r
    if r.tool == "answer":
        kn.ended = True
        if normalize_answer(r.answer or "") == w.answer_norm:
            return None, r
        return f"answers {r.answer!r}, the answer is {w.answer!r}", r
    if r.tool == "search":
        new = [i for i in r.results if i in w.target_ids and i not in kn.ids]
        if not new:
            return "reveals no needed item" if r.results else "finds nothing", r
        kn.ids.update(new)
        return None, r
    if r.tool == "lookup":
        it = r.item
        assert it is not None
        if it["id"] not in w.target_ids:
            return f"{it['id']} ({it['name']}) is not an item the question is about", r
        if it["id"] in kn.looked:
            return f"{it['id']} was already looked up", r
        kn.looked.add(it["id"])
        kn.ids.add(it["id"])
        kn.numbers.update(Fraction(it[f]) for f in ("price", "stock", "discount"))
        return None, r
    # calculate
    assert r.value is not None
    unknown = [n for n in r.numbers if n not in kn.numbers]
    if unknown:
        return f"uses {format_value(unknown[0])}, not a number the task or an observation gave", r
    if w.calc_value is None or r.value != w.calc_value:
        return f"computes {format_value(r.value)}, not a quantity the task needs", r
    if r.value in kn.computed:
        return f"{format_value(r.value)} was already computed", r
    kn.computed.add(r.value)
    kn.numbers.add(r.value)
    return None, r


def check_turns(task: Problem, turns: Sequence[Turn | Action]) -> TurnCheck:
    """Judge every step of a trajectory (turns or bare actions) by the rule in the module doc.

    Observations in the turns are not read: the checker replays the actions on the task. A
    prefix without an answer is not an error (partial trajectories are judged as such).
    """
    w = world_of(task)
    kn = _Knowledge(w)
    correct: list[bool] = []
    reasons: list[str | None] = []
    answer = None
    success = False
    for i, t in enumerate(turns):
        action = t.action if isinstance(t, Turn) else t
        ended_before = kn.ended
        reason, r = _judge(w, kn, i, action)
        if not ended_before and i < w.budget and r is not None and r.tool == "answer" and r.error is None:
            answer = r.answer
            success = normalize_answer(answer or "") == w.answer_norm
        correct.append(reason is None)
        reasons.append(reason)
    fe = next((i for i, c in enumerate(correct) if not c), -1)
    return TurnCheck(correct=correct, reasons=reasons, first_error=fe, answer=answer, success=success)


# ---------------------------------------------------------------- the environment


class _Snap:
    """A snapshot: the task is shared (never mutated), the rest copied."""

    __slots__ = ("actions", "last", "task")

    def __init__(self, task: Problem | None, actions: list[Action], last: EnvStep | None) -> None:
        self.task, self.actions, self.last = task, actions, last

    def __deepcopy__(self, memo: dict) -> _Snap:
        last = self.last
        if last is not None:
            last = EnvStep(last.observation, last.reward, last.done, dict(last.info))
        return _Snap(self.task, list(self.actions), last)


@ENVIRONMENTS.register("tools")
class ToolsEnv(Environment):
    """The tool-use shop world (see the module doc). Options: ``templates`` (the task templates
    :meth:`make_task` draws from; default all).

    Observations are text; ``answer`` ends the episode (``info["success"]``: the answer is
    right, ``info["answer"]``: the answer text); an invalid call gets an ``Error: ...``
    observation; after the task's turn budget (its plan's length) the episode ends unsuccessful
    (``info["truncated"]``). The reward is 1.0 for the right answer, else 0.0.
    """

    default_agent = "tools-noisy"
    #: the longest plan is 6 turns; each task's own budget is its plan's length
    max_turns = 8

    def __init__(self, templates: Sequence[str] | str | None = None, **options: Any) -> None:
        if options:
            raise PrmkitError(f"unknown option(s) for environment 'tools': {', '.join(sorted(options))}")
        if isinstance(templates, str):
            templates = [t.strip() for t in templates.split(",") if t.strip()]
        super().__init__(**({"templates": list(templates)} if templates else {}))
        self.templates = list(templates) if templates else None
        self.world: ToolWorld | None = None

    @staticmethod
    def tools() -> list[dict[str, Any]]:
        """The tools as OpenAI function schemas (a copy of :data:`TOOL_SCHEMAS`)."""
        return copy.deepcopy(TOOL_SCHEMAS)

    def make_task(self, seed: int) -> Problem:
        return make_task(seed, templates=self.templates)

    def _reset(self, task: Problem) -> str:
        self.world = world_of(task)
        return task.question

    def _step(self, action: Action) -> EnvStep:
        w = self.world
        assert w is not None
        r = w.call(action)
        if r.tool == "answer" and r.error is None:
            ok = normalize_answer(r.answer or "") == w.answer_norm
            return EnvStep(r.observation, float(ok), True, {INFO_SUCCESS: ok, INFO_ANSWER: r.answer})
        if len(self.actions) >= w.budget:
            return EnvStep(r.observation, 0.0, True, {INFO_SUCCESS: False, "truncated": True})
        return EnvStep(r.observation, 0.0, False, {})

    def snapshot(self) -> Any:
        return _Snap(self.task, list(self.actions), self.last)

    def restore(self, snap: Any) -> None:
        self.task, self.actions, self.last = snap.task, list(snap.actions), snap.last
        self.world = world_of(self.task) if self.task is not None else None
