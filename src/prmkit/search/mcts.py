"""MCTS with PRM values (docs/methods.md#e4-mcts; selection as in OpenR / AlphaZero, or UCT as in VersaPRM).

Nodes are step prefixes. A node's *value* is the PRM's ``config.agg`` score of its path; no random
rollouts to a terminal reward are made (the PRM is the value function). One iteration:

1. **select**: from the root, go to the child with the highest selection score until a node
   without children; children that are closed (finished, or at a budget) or whose subtree is
   fully closed are skipped.

   - ``mcts_selection="puct"`` (OpenR, AlphaZero):
     ``Q(c) + P(c) * sqrt(N(parent)) / (1 + N(c)) * (log((N(parent) + c_base + 1) / c_base) + c_init)``
     with ``Q(c)`` the mean backed-up value (the PRM value before any visit), ``P(c)`` the prior
     (softmax of ``Generation.meta["logprob"]`` over siblings when every sibling has one, else
     uniform), ``c_init = c_puct = 1.25``, ``c_base = 19652``.
   - ``mcts_selection="uct"`` (VersaPRM): ``value(c) + c_uct * sqrt(ln N(parent) / N(c))``
     (unvisited children first), ``c_uct = sqrt(2)``.
2. **expand**: sample ``width`` next steps of the selected node and score them with the PRM.
3. **rollout** (``mcts_rollout``, VersaPRM): keep descending into the best new child, expanding
   ``width`` children at each level, until a finished step or a budget.
4. **backup**: the best value among the last expanded children is added to every node on the
   path (visit count + 1).

Returned candidates: every finished node; when none finished, the open leaves (unfinished,
marked). Bounded by ``mcts_iterations`` x ``max_steps`` expansions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prmkit.search.candidates import Candidate, argmax_first
from prmkit.search.compute import SearchContext
from prmkit.search.driver import SEARCHES


def puct_score(
    q: float, prior: float, n_parent: int, n_child: int, c_init: float = 1.25, c_base: float = 19652.0
) -> float:
    """AlphaZero/OpenR PUCT selection score.

    Example (hand check: c = log((3+19652+1)/19652) + 1.25 = 1.25020, sqrt(3)/2 = 0.86603):
        >>> round(puct_score(0.6, 0.5, 3, 1), 4)
        1.1414
    """
    c = math.log((n_parent + c_base + 1) / c_base) + c_init
    return q + c * prior * math.sqrt(n_parent) / (1 + n_child)


def uct_score(value: float, n_parent: int, n_child: int, c: float = math.sqrt(2)) -> float:
    """UCT selection score (VersaPRM); an unvisited child scores ``inf``.

    Example (docs/methods.md#e4-mcts):
        >>> round(uct_score(0.6, 3, 2), 3), round(uct_score(0.5, 3, 1), 3)
        (1.648, 1.982)
    """
    if n_child == 0:
        return math.inf
    return value + c * math.sqrt(math.log(n_parent) / n_child)


@dataclass
class Node:
    cand: Candidate
    parent: Node | None = None
    prior: float = 1.0
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0
    exhausted: bool = False  # closed itself, or every child exhausted

    @property
    def value(self) -> float:
        """PRM value of the path (0 when unscored)."""
        return self.cand.score if self.cand.score is not None else 0.0

    @property
    def q(self) -> float:
        return self.value_sum / self.visits if self.visits else self.value


def priors(logprobs: list[float | None]) -> list[float]:
    """Sibling priors: softmax of log-probabilities when all are known, else uniform.

    Example:
        >>> priors([None, -1.0]), [round(p, 3) for p in priors([0.0, math.log(3)])]
        ([0.5, 0.5], [0.25, 0.75])
    """
    if not logprobs:
        return []
    if any(lp is None for lp in logprobs):
        return [1.0 / len(logprobs)] * len(logprobs)
    m = max(logprobs)  # type: ignore[type-var]
    e = [math.exp(lp - m) for lp in logprobs]  # type: ignore[operator]
    s = sum(e)
    return [x / s for x in e]


def select_child(node: Node, ctx: SearchContext) -> Node | None:
    """The open child with the best selection score (ties -> first); None when all are exhausted."""
    cfg = ctx.config
    open_ = [c for c in node.children if not c.exhausted]
    if not open_:
        return None
    n_parent = max(1, node.visits)
    if cfg.mcts_selection == "uct":
        scores = [uct_score(c.q, n_parent, c.visits, cfg.c_uct) for c in open_]
    else:
        scores = [puct_score(c.q, c.prior, n_parent, c.visits, cfg.c_puct, cfg.c_puct_base) for c in open_]
    return open_[argmax_first(scores)]


def _expand(ctx: SearchContext, node: Node, tag: tuple) -> list[Node]:
    gens = ctx.generate([node.cand.steps], ctx.config.width, max_steps=1, seed_parts=tag)[0]
    kids = [node.cand.extend(g) for g in gens]
    ctx.score_candidates(kids)
    ps = priors([g.meta.get("logprob") for g in gens])
    node.children = []
    for c, p in zip(kids, ps, strict=True):
        ctx.close_if_over_budget(c)
        node.children.append(Node(c, parent=node, prior=p, exhausted=c.closed))
    return node.children


def _mark_exhausted(node: Node | None) -> None:
    while node is not None and node.children and all(c.exhausted for c in node.children):
        node.exhausted = True
        node = node.parent


@SEARCHES.register("mcts")
def mcts(ctx: SearchContext) -> list[Candidate]:
    """MCTS with PRM values (see module docstring)."""
    cfg = ctx.config
    root = Node(Candidate())
    n_expansions = 0
    for it in range(cfg.mcts_iterations):
        if root.exhausted or not ctx.budget_left():
            break
        node = root
        while node.children:
            nxt = select_child(node, ctx)
            if nxt is None:  # cannot happen while root is open; guard against loops
                break
            node = nxt
        leaf = node
        value = leaf.value
        depth = 0
        while not leaf.cand.closed and depth <= cfg.max_steps and ctx.budget_left():
            kids = _expand(ctx, leaf, ("expand", it, depth))
            n_expansions += 1
            best = kids[argmax_first([k.cand.score for k in kids])]
            value = best.value
            if not cfg.mcts_rollout or best.cand.closed:
                break
            leaf = best
            depth += 1
        _mark_exhausted(leaf)
        if not leaf.children and leaf.cand.closed:
            leaf.exhausted = True
            _mark_exhausted(leaf.parent)
        n: Node | None = leaf
        while n is not None:
            n.visits += 1
            n.value_sum += value
            n = n.parent
    ctx.meta["mcts_expansions"] = n_expansions
    ctx.meta["root_visits"] = root.visits
    finished: list[Candidate] = []
    leaves: list[Candidate] = []
    stack = [root]
    while stack:
        n = stack.pop()
        if n is not root and n.cand.finished:
            finished.append(n.cand)
        elif n is not root and not n.children:
            if not n.cand.closed:
                n.cand.stop_reason = "search_ended"
            leaves.append(n.cand)
        stack.extend(reversed(n.children))
    return finished if finished else leaves
