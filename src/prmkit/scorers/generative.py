"""Generative verifiers (ThinkPRM / GenPRM style): a causal LM that *writes* a verification chain
for a solution, one line per step ending in a verdict, and step scores read from the chains.

The chain format (written by :func:`prmkit.worlds.arith_verify.verification_chain` on the
arithmetic world, by an LLM for real data: :func:`prmkit.train.generative.synthesise_chains`)::

    Step 1: 7 known, 38 known; 7 + 38 = 45, 45 - 45 = 0. correct
    Step 2: 34 known, 9 known; 34 * 9 = 306, 306 - 286 = 20. incorrect

The verification is interleaved with the solution: the verifier reads ``problem \\n step_1 \\n``
(the base LM's ``lm-likelihood`` layout), then :data:`CHECK_MARKER` (``Check:``), and writes the
line of step 1 (``" 7 known, 38 known; 7 + 38 = 45, 45 - 45 = 0. correct"``) up to its newline;
then step 2 and ``Check:`` are fed, and so on. It stops at the first ``incorrect`` (or a line without a verdict). The chain is
the lines written, each read as ``Step i:`` + the line (:func:`step_segments`, :func:`split_line`).
A step read right after the check of the step before needs no search for "step i" in a long
prompt, which a small model learns far faster than a chain written after the whole solution.

With ``solve=True`` the verifier first writes its own solution: it reads ``problem \n`` and
:data:`SOLVE_MARKER` (``Solve:\n``), writes lines up to the first that states a final answer
(:func:`prmkit.grading.extract_answer`; at most :data:`MAX_SOLVE_LINES`), and only then reads
step 1 and ``Check:``; the chain's text opens with ``Solve:`` and those lines, and a tool on a
check line sees the problem, the solution and the earlier steps
(docs/methods.md#h4-solve-first-verification-the-verifiers-own-solution-as-reference).
A ``solver`` (another LM of the vocabulary, e.g. ``"base"``: the verifier's base LM) may write
the solution instead: it continues ``problem \n``, and the verifier reads the solution after
``Solve:`` in one prefill and checks (``check_temperature=0``: greedily, whatever the solution's
temperature).

Step scores (docs/methods.md#h1-generative-verifier-scores):

- one chain, hard verdicts: ``1`` for a step judged correct, ``0`` for the step judged incorrect
  **and every later step** (the chain found an earlier error: a step score is the probability
  that the solution is right up to that step, the trainer's label semantics); ``None`` for a step
  the chain gives no verdict on before stopping (a malformed, truncated or out-of-window chain);
- verdict probability ``p = P(correct) / (P(correct) + P(incorrect))`` of the verdict's first
  token at the verdict position (``" correct"`` and ``" incorrect"`` differ in their first token);
- ``K`` chains (verifier test-time scaling, GenPRM): per step, over the chains that judged it,
  ``aggregate="vote"``: the share of "correct" verdicts, ``aggregate="mean"``: the mean verdict
  probability. A chain abstains after its first incorrect (it judged no further); a step every
  chain stopped before scores 0; no chain with a value gives ``None``. (Counting a stopped
  chain's later steps as 0 votes makes the vote the share of chains with no error up to the
  step, and voting then amplifies false alarms: measured in benchmarks/generative_verifier.md.)

Compute is counted in :attr:`GenerativeScorer.compute` (solutions, chains, prompt tokens,
generated tokens, decode steps). Greedy decoding is ``temperature=0`` (then ``k`` must be 1).

Example (parsing; a malformed line is skipped and its step has no verdict):
    >>> parse_chain("Step 1: 2 + 3 = 5. correct\\nStep 2: 5 x 4 = 20, not 21. incorrect", 3)
    [True, False, None]
    >>> parse_chain("garbage", 2)
    [None, None]
    >>> chain_values([True, False, None])
    [1.0, 0.0, 0.0]
    >>> aggregate([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, None]], "vote")
    [1.0, 0.6666666666666666, 0.5]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM

from prmkit.config import check_choice, check_min, check_positive
from prmkit.errors import PrmkitError
from prmkit.grading import extract_answer
from prmkit.models.cache import DecodeBatch
from prmkit.models.packaged import resolve_model
from prmkit.models.tokenizer import load_tokenizer
from prmkit.render import render_many
from prmkit.scorers.base import SCORERS, Scorer, StepScores, read_prmkit_json
from prmkit.scorers.chain_tools import get_tool, step_contexts
from prmkit.scorers.engine import resolve_device, resolve_dtype
from prmkit.scorers.neural import _from_pretrained, resolve_window

__all__ = [
    "AGGREGATES",
    "CHECK_MARKER",
    "SOLVE_MARKER",
    "Chain",
    "GenerativeScorer",
    "aggregate",
    "chain_values",
    "first_incorrect",
    "parse_chain",
    "split_line",
    "step_segments",
]

#: the text fed after each step, before the verifier's line for it
CHECK_MARKER = "Check:"
#: the line fed after the problem when the verifier writes its own solution first (``solve``)
SOLVE_MARKER = "Solve:"
#: at most this many lines of the verifier's own solution (it ends at a line stating an answer)
MAX_SOLVE_LINES = 32
VERDICT_CORRECT = "correct"
VERDICT_INCORRECT = "incorrect"
AGGREGATES = ("mean", "vote")
#: the format the prompt is rendered with (problem, steps, newlines: the base LM's layout)
PROMPT_FORMAT = "lm-likelihood"


_LINE = re.compile(r"^\s*step\s+(\d+)\s*:(.*?)\b(correct|incorrect)\W*$", re.IGNORECASE)


def parse_line(line: str) -> tuple[int, bool] | None:
    """``(step index (1-based), verdict)`` of one chain line, ``None`` when it has neither.

    Example:
        >>> parse_line("Step 3: 198 - 27 = 171, not 175. The step is incorrect."), parse_line("Step x")
        ((3, False), None)
    """
    m = _LINE.match(line)
    if not m:
        return None
    return int(m.group(1)), m.group(3).lower() == VERDICT_CORRECT


def parse_chain(text: str, n_steps: int) -> list[bool | None]:
    """Per-step verdicts of a chain: ``True`` correct, ``False`` incorrect, ``None`` no verdict.

    Lines that are not ``Step i: ... correct|incorrect`` are skipped; a step index out of range,
    repeated or going backwards is skipped; parsing stops at the first ``incorrect`` (the later
    steps get ``None``: the chain judged no further). Never raises on any text.
    """
    out: list[bool | None] = [None] * n_steps
    last = 0
    for line in str(text).splitlines():
        got = parse_line(line)
        if got is None:
            continue
        i, ok = got
        if not last < i <= n_steps:
            continue
        out[i - 1] = ok
        last = i
        if not ok:
            break
    return out


def chain_values(
    verdicts: Sequence[bool | None], probs: Sequence[float | None] | None = None
) -> list[float | None]:
    """Step values of one chain: the verdict (1/0), or its probability ``probs[i]`` when given
    (the hard verdict when that probability is ``None``); 0 after the first incorrect; ``None``
    where the chain has no verdict before stopping.

    Example:
        >>> chain_values([True, None, False, None], [0.9, None, 0.2, None])
        [0.9, None, 0.2, 0.0]
    """
    out: list[float | None] = []
    stopped = False
    for i, v in enumerate(verdicts):
        if stopped:
            out.append(0.0)
            continue
        if v is None:
            out.append(None)
            continue
        p = probs[i] if probs is not None and i < len(probs) else None
        out.append(float(v) if p is None else float(p))
        stopped = not v
    return out


def first_incorrect(verdicts: Sequence[bool | None]) -> int | None:
    """The step a chain stopped at (its first ``incorrect``), ``None`` when it has none."""
    return next((i for i, v in enumerate(verdicts) if v is False), None)


def aggregate(
    values: Sequence[Sequence[float | None]], how: str = "mean", stops: Sequence[int | None] | None = None
) -> list[float | None]:
    """Step scores from ``K`` chains' step values (:func:`chain_values`): per step, the mean over
    the chains that judged it (``how="vote"`` first rounds each value to a 0/1 vote at 0.5).

    ``stops[k]``: the step chain ``k`` stopped at (:func:`first_incorrect`). A chain abstains on
    the steps after it (it judged no further); a step that every chain with a value stopped
    before scores 0 (all found an earlier error). Without ``stops`` every value counts (a
    stopped chain's later steps then vote 0).

    Example:
        >>> aggregate([[0.9, 0.3], [0.7, 0.0]], "mean"), aggregate([[0.9, 0.3], [0.7, 0.0]], "vote")
        ([0.8, 0.15], [1.0, 0.0])
        >>> aggregate([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]], "vote", stops=[1, None])
        [1.0, 0.5, 1.0]
    """
    if how not in AGGREGATES:
        raise PrmkitError(f"unknown aggregate {how!r}; known: {', '.join(AGGREGATES)}", field="aggregate")
    n = max((len(v) for v in values), default=0)
    stops = list(stops) if stops is not None else [None] * len(values)
    out: list[float | None] = []
    for t in range(n):
        judged = [
            v[t]
            for v, s in zip(values, stops, strict=True)
            if t < len(v) and v[t] is not None and (s is None or t <= s)
        ]
        if how == "vote":
            judged = [1.0 if x >= 0.5 else 0.0 for x in judged]  # type: ignore[operator]
        if judged:
            out.append(sum(judged) / len(judged))  # type: ignore[arg-type]
        elif any(s is not None and s < t for s in stops):
            out.append(0.0)
        else:
            out.append(None)
    return out


@dataclass
class Chain:
    """One generated chain: its text, per-step verdicts and verdict probabilities, tokens used."""

    text: str
    verdicts: list[bool | None]
    probs: list[float | None]
    tokens: int

    def values(self, soft: bool = True) -> list[float | None]:
        return chain_values(self.verdicts, self.probs if soft else None)

    @property
    def stop(self) -> int | None:
        return first_incorrect(self.verdicts)


def step_segments(
    tokenizer: Any, problems: Sequence[str], steps: Sequence[Sequence[str]]
) -> list[list[list[int]]]:
    """Per solution, the token ids of ``problem \n step_1 \n`` and then of each ``step_i \n``
    (the ``lm-likelihood`` layout, the base LM's: pieces tokenized alone, newlines inserted as ids).

    A verification is these segments interleaved with check lines: after segment ``i`` come
    :data:`CHECK_MARKER` and the verifier's line for step ``i`` (``" <check>. correct\n"``).
    """
    rendered = render_many(list(problems), [list(s) for s in steps], PROMPT_FORMAT, tokenizer, None)
    out = []
    for r in rendered:
        segs, prev = [], 0
        for pos in r.step_positions:
            segs.append(list(r.input_ids[prev : pos + 1]))  # type: ignore[operator]
            prev = pos + 1  # type: ignore[operator]
        out.append(segs)
    return out


def problem_length(tokenizer: Any, problem: str, first: Sequence[int]) -> int:
    """How many ids of a solution's first segment (:func:`step_segments`: ``problem \\n step_1
    \\n``) are the problem and its newline: where a verifier's own solution goes (``solve``).

    Example:
        >>> from prmkit.models.tiny import train_tokenizer
        >>> tok = train_tokenizer(["a b c"], vocab_size=280)
        >>> first = step_segments(tok, ["a b"], [["c"]])[0][0]
        >>> first[: problem_length(tok, "a b", first)] == tok("a b", add_special_tokens=False)["input_ids"] + [first[-1]]
        True
    """
    ids = tokenizer(problem, add_special_tokens=False)["input_ids"]
    n = len(ids) + 1
    if list(first[: len(ids)]) != list(ids) or n >= len(first):
        raise PrmkitError(
            "the problem's tokens do not open the rendered solution: no place for a verifier's own solution"
        )
    return n


def split_line(line: str) -> str:
    """The part of a chain line the verifier writes: what follows ``Step i:``.

    Example:
        >>> split_line("Step 2: 5 x 4 = 20, not 21. incorrect")
        ' 5 x 4 = 20, not 21. incorrect'
    """
    return line.split(":", 1)[1] if ":" in line else line


def verdict_tokens(tokenizer: Any) -> tuple[int, int]:
    """The tokens that tell ``" correct"`` from ``" incorrect"``: their ids at the first position
    where the two tokenizations differ (the first token on a world or LLM tokenizer)."""
    a = tokenizer(" " + VERDICT_CORRECT, add_special_tokens=False)["input_ids"]
    b = tokenizer(" " + VERDICT_INCORRECT, add_special_tokens=False)["input_ids"]
    i = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if i is None:
        raise PrmkitError("the tokenizer does not tell ' correct' from ' incorrect'")
    return a[i], b[i]


@dataclass
class _Row:
    """One chain being generated: the solution's segments, the lines written so far (token ids
    and, per token, ``P(correct) / (P(correct) + P(incorrect))`` there), tokens to feed next."""

    segs: list[list[int]]
    pos: int  # the position of the next token
    problem: str
    steps: Sequence[str]
    contexts: list[str] = field(default_factory=list)  # per step, what a tool sees (step_contexts)
    solving: bool = False  # writing its own solution (``solve``), not yet checking
    solved: list[str] = field(default_factory=list)  # its own solution's lines, as text
    solution_ids: list[int] = field(default_factory=list)  # the solution as fed (lines, their newlines)
    lines: list[list[int]] = field(default_factory=list)
    line_pc: list[list[float]] = field(default_factory=list)
    line: list[int] = field(default_factory=list)
    pc: list[float] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)
    fed: list[int] = field(default_factory=list)  # a tool's output, fed into the line
    generated: int = 0
    done: bool = False
    cut: bool = False  # stopped by the window


@SCORERS.register("generative")
class GenerativeScorer(Scorer):
    """A generative verifier (see the module docs).

    Args:
        model: a causal LM fine-tuned on verification chains (:mod:`prmkit.train.generative`).
        tokenizer: its tokenizer.
        k: chains per solution (GenPRM's verifier test-time scaling).
        temperature: sampling temperature; ``0`` = greedy (one chain).
        aggregate: ``mean`` (mean verdict probability) or ``vote`` (share of hard verdicts).
        max_new_tokens: at most this many generated tokens per chain (default: the window allows).
        max_length: the window (default: the model's positions).
        batch_rows: chains generated together (solutions per batch = ``batch_rows // k``).
        seed: sampling seed (each call to :meth:`sample` continues the same generator).
        tool: a chain tool (:data:`~prmkit.scorers.chain_tools.CHAIN_TOOLS`, e.g. ``calculator``)
            whose output is fed into the line as the verifier writes it (GenPRM's execution
            feedback); ``None``: the verifier writes every token.
        solve: the verifier writes its own solution first (after the problem and
            :data:`SOLVE_MARKER`, up to a line stating a final answer), then checks each step
            with that solution in view (reference-guided; its tool sees it too); each of the
            ``k`` chains writes its own. A verifier trained on chains with a solution
            (``prmkit.json``'s ``verifier.solve``).
        solver: with ``solve``, a causal LM of the same vocabulary that writes the solution
            instead (it continues ``problem \\n``; the verifier reads its lines after
            ``Solve:``): a model, a path, or ``"base"`` (the base LM the verifier was trained
            from, ``prmkit.json``'s ``base_model``). The world's base LM solves better than a
            verifier fine-tuned on chains (benchmarks/generative_verifier.md); the verifier is
            then two models, the solver and the checker.
        check_temperature: the temperature of the check lines (default: ``temperature``, which
            always governs the solution); with ``solve``, ``0`` checks greedily, so the ``k``
            chains differ by their solutions alone (a sampled verdict can pass an error that
            every solution refutes).
        device, dtype: as the neural scorers.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        k: int = 1,
        temperature: float = 0.0,
        aggregate: str = "mean",
        max_new_tokens: int | None = None,
        max_length: int | None = None,
        batch_rows: int = 128,
        seed: int = 0,
        top_p: float = 1.0,
        tool: str | None = None,
        solve: bool = False,
        solver: Any = None,
        check_temperature: float | None = None,
        device: str | None = None,
        dtype: Any = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.k, self.temperature, self.aggregate = int(k), float(temperature), aggregate
        self.max_new_tokens, self.batch_rows, self.seed, self.top_p = max_new_tokens, batch_rows, seed, top_p
        check_min(self, 1, "k", "batch_rows", "max_new_tokens")
        self.check_temperature = self.temperature if check_temperature is None else float(check_temperature)
        check_min(self, 0.0, "temperature", "check_temperature")
        check_positive(self, "top_p")
        check_choice(self, "aggregate", AGGREGATES)
        if self.temperature == 0 and self.k > 1:
            raise PrmkitError("greedy decoding (temperature 0) gives one chain: use k=1 or a temperature > 0",
                              field="k")  # fmt: skip
        if device is not None or dtype is not None:
            dev = resolve_device(device) if device is not None else str(next(model.parameters()).device)
            model = model.to(device=dev, dtype=resolve_dtype(dtype, dev) if dtype is not None else None)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.max_length = resolve_window(max_length, model, tokenizer)
        self.meta = dict(meta or {})
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.correct_id, self.incorrect_id = verdict_tokens(tokenizer)
        self.tool = get_tool(tool)
        self.tool_name = tool if self.tool is not None else None
        self.solve = bool(solve)
        if self.k > 1 and self.check_temperature == 0 and not self.solve:
            raise PrmkitError("greedy check lines without solve give k equal chains: use k=1 or solve=true",
                              field="check_temperature")  # fmt: skip
        self.solver, self.solver_name = self._load_solver(solver)
        self.solver_window = (
            resolve_window(None, self.solver, tokenizer) or 10**9 if self.solver is not None else 0
        )
        self.solve_ids = [*tokenizer(SOLVE_MARKER, add_special_tokens=False)["input_ids"],
                          tokenizer("\n", add_special_tokens=False)["input_ids"][-1]]  # fmt: skip
        self._pieces = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        self.marker = tokenizer(CHECK_MARKER, add_special_tokens=False)["input_ids"]
        self._gen = torch.Generator(device="cpu").manual_seed(seed)
        self.compute = {
            "solutions": 0,
            "chains": 0,
            "prompt_tokens": 0,
            "generated_tokens": 0,
            "decode_steps": 0,
            "tool_calls": 0,
            "tool_tokens": 0,
            "solution_tokens": 0,
        }
        self.truncated_steps = 0

    @classmethod
    def load(
        cls,
        path: str | Path | None,
        *,
        device: str | None = None,
        dtype: Any = None,
        **options: Any,
    ) -> GenerativeScorer:
        """Model + tokenizer from ``path``; ``k``, ``temperature``, ``aggregate`` default to the
        ``verifier`` settings recorded in ``prmkit.json``, keyword options override them."""
        if path is None:
            raise PrmkitError("scorer 'generative' needs a model path (--prm PATH)")
        meta = read_prmkit_json(path) if Path(str(path)).is_dir() else None
        defaults = dict((meta or {}).get("verifier") or {})
        dev = resolve_device(device)
        model = _from_pretrained(AutoModelForCausalLM, path, resolve_dtype(dtype, dev))
        known = (
            "k",
            "temperature",
            "aggregate",
            "max_new_tokens",
            "max_length",
            "batch_rows",
            "seed",
            "top_p",
            "tool",
            "solve",
            "solver",
            "check_temperature",
        )
        bad = set(options) - set(known)
        if bad:
            raise PrmkitError(f"unknown option(s) for scorer 'generative': {', '.join(sorted(bad))}")
        kw = {k: v for k, v in defaults.items() if k in known} | options
        return cls(model.to(dev), load_tokenizer(path), meta=meta, **kw)

    def _load_solver(self, solver: Any) -> tuple[Any, str | None]:
        """The solver model (see the class docs) on the verifier's device and dtype, and its name."""
        if solver is None:
            return None, None
        if not self.solve:
            raise PrmkitError("a solver writes the solution of a verifier that solves first: set solve=true",
                              field="solver")  # fmt: skip
        name = None
        if isinstance(solver, (str, Path)):
            name = str(solver)
            path = name
            if name == "base":
                path = str(self.meta.get("base_model") or "")
                if not path:
                    raise PrmkitError("solver 'base': the verifier's prmkit.json names no base_model",
                                      field="solver")  # fmt: skip
            path = resolve_model(path)
            try:
                theirs = load_tokenizer(path).get_vocab()
            except (OSError, ValueError) as e:
                raise PrmkitError(f"solver {path}: cannot load its tokenizer ({e})", field="solver") from e
            if theirs != self.tokenizer.get_vocab():
                raise PrmkitError(f"solver {path}: its tokenizer's vocabulary is not the verifier's",
                                  field="solver")  # fmt: skip
            solver = _from_pretrained(AutoModelForCausalLM, path, next(self.model.parameters()).dtype)
        elif solver.get_input_embeddings().num_embeddings < len(self.tokenizer):
            raise PrmkitError(
                "the solver's vocabulary is smaller than the verifier's tokenizer", field="solver"
            )
        return solver.to(self.device).eval(), name

    # ------------------------------------------------------------------ scoring
    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        chains = self.sample(problems, steps)
        return [self.scores_of(cs) for cs in chains]

    def scores_of(self, chains: Sequence[Chain], k: int | None = None, how: str | None = None) -> StepScores:
        """Step scores from the first ``k`` (default all) of one solution's chains."""
        how = how or self.aggregate
        use = list(chains)[: k or len(chains)]
        return aggregate([c.values(soft=how == "mean") for c in use], how, [c.stop for c in use])

    def sample(
        self, problems: Sequence[str], steps: Sequence[list[str]], k: int | None = None
    ) -> list[list[Chain]]:
        """``k`` (default ``self.k``) chains for every solution, in the input order."""
        k = k or self.k
        segs = step_segments(self.tokenizer, problems, steps)
        window = self.max_length or 10**9
        out: list[list[Chain]] = [[] for _ in segs]
        order = sorted(range(len(segs)), key=lambda i: sum(map(len, segs[i])))
        per = max(1, self.batch_rows // k)
        todo = []
        for i in order:
            if not segs[i] or len(segs[i][0]) + len(self.marker) >= window:  # no room for a check
                out[i] = [Chain("", [None] * len(steps[i]), [None] * len(steps[i]), 0) for _ in range(k)]
                self.truncated_steps += len(steps[i])
            else:
                todo.append(i)
        for b in range(0, len(todo), per):
            idx = todo[b : b + per]
            rows = self._generate([segs[i] for i in idx], [(problems[i], steps[i]) for i in idx], k, window)
            for j, i in enumerate(idx):
                out[i] = [self._chain(r, len(steps[i])) for r in rows[j * k : (j + 1) * k]]
        self.compute["solutions"] += len(segs)
        self.compute["chains"] += len(segs) * k
        return out

    # ------------------------------------------------------------------ generation
    def _text(self, ids: Sequence[int]) -> str:
        return "".join(self._pieces[t] for t in ids)

    def _chain(self, row: _Row, n_steps: int) -> Chain:
        lines = ["Step " + str(i + 1) + ":" + self._text(ids) for i, ids in enumerate(row.lines)]
        if self.solve:
            lines = [SOLVE_MARKER, *row.solved, *lines]
        text = "\n".join(lines)
        verdicts = parse_chain(text, n_steps)
        probs: list[float | None] = [None] * n_steps
        for i, (ids, pc) in enumerate(zip(row.lines, row.line_pc, strict=True)):
            pos = [u for u, t in enumerate(ids) if t in (self.correct_id, self.incorrect_id)]
            if verdicts[i] is not None and pos:
                probs[i] = pc[pos[-1]]
        if row.cut:
            self.truncated_steps += sum(
                v is None
                for v in verdicts[: next((i for i, v in enumerate(verdicts) if v is False), n_steps)]
            )
        return Chain(text, verdicts, probs, row.generated)

    @torch.inference_mode()
    def _generate(
        self, segs: list[list[list[int]]], texts: list[tuple[str, Sequence[str]]], k: int, window: int
    ) -> list[_Row]:
        heads: list[list[int]] = []
        if self.solve:  # problem + Solve: (the first segment is the problem and step 1)
            heads = [
                s[0][: problem_length(self.tokenizer, p, s[0])] for s, (p, _) in zip(segs, texts, strict=True)
            ]
            segs = [[s[0][len(h) :], *s[1:]] for s, h in zip(segs, heads, strict=True)]
            prompts = [h + self.solve_ids for h in heads]
        else:
            prompts = [s[0] + self.marker for s in segs]
        rows = [_Row(segs=segs[i // k], pos=0, problem=texts[i // k][0], steps=texts[i // k][1],
                     solving=self.solve) for i in range(len(prompts) * k)]  # fmt: skip
        for row in rows:
            if not self.solve:
                row.contexts = step_contexts(row.problem, row.steps)
        if self.solver is None:
            self._decode(self.model, prompts, rows, k, window)
        else:  # the solver continues problem \n; the verifier reads its solution after Solve:
            self._decode(self.solver, heads, rows, k, min(window - len(self.solve_ids), self.solver_window))
            fed = [
                prompts[i // k] + row.solution_ids + row.segs[0] + self.marker for i, row in enumerate(rows)
            ]
            live = [i for i, row in enumerate(rows) if not row.cut and len(fed[i]) < window]
            for i in set(range(len(rows))) - set(live):
                rows[i].done = rows[i].cut = True
            if live:
                self._decode(self.model, [fed[i] for i in live], [rows[i] for i in live], 1, window)
        self.compute["generated_tokens"] += sum(r.generated for r in rows)
        return rows

    def _decode(self, model: Any, prompts: list[list[int]], rows: list[_Row], k: int, window: int) -> None:
        """Prefill ``prompts`` (left-padded), repeat each ``k`` times (``rows`` are ``k`` per
        prompt) and decode token by token until every row is done (:meth:`_advance`)."""
        L = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), L), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), L), dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding
            ids[i, L - len(p) :] = torch.tensor(p)
            mask[i, L - len(p) :] = 1
        batch, logits = DecodeBatch.prefill(model, ids, mask)
        self.compute["prompt_tokens"] += int(mask.sum())
        if k > 1:
            batch.repeat(k)
            logits = logits.repeat_interleave(k, 0)
        for i, row in enumerate(rows):
            row.pos, row.done = len(prompts[i // k]), False
        live = list(range(len(rows)))  # rows still in the batch, in batch order
        max_line = self.max_new_tokens or 96
        while live:
            pc = torch.sigmoid(logits[:, self.correct_id] - logits[:, self.incorrect_id]).cpu()
            nxt = self._pick(logits, self.temperature)
            chk = (
                nxt
                if self.check_temperature == self.temperature
                else self._pick(logits, self.check_temperature)
            )
            keep = []
            for j, r in enumerate(live):
                row = rows[r]
                if row.fed:  # the tool's output: part of the line, not written by the verifier
                    t = row.fed.pop(0)
                    row.line.append(t)
                    row.pc.append(float(pc[j]))
                    self.compute["tool_tokens"] += 1
                elif row.forced:
                    t = row.forced.pop(0)
                    self.compute["prompt_tokens"] += 1
                else:
                    t = int(nxt[j] if row.solving else chk[j])
                    row.generated += 1
                    self._advance(row, t, float(pc[j]), max_line)
                nxt[j] = t
                row.pos += 1
                if row.pos >= window and not row.done:
                    row.done = row.cut = True
                if not row.done:
                    keep.append(j)
            self.compute["decode_steps"] += 1
            if not keep:
                break
            batch.keep(keep)
            nxt, live = nxt[keep], [live[j] for j in keep]
            logits = batch.step(nxt)

    def _pick(self, logits: torch.Tensor, temperature: float) -> torch.Tensor:
        """The next token of every row: greedy at temperature 0, else sampled (``top_p``)."""
        if temperature == 0:
            return logits.argmax(-1).cpu()
        probs = torch.softmax(logits / temperature, -1).cpu()
        if self.top_p < 1.0:
            probs = _top_p(probs, self.top_p)
        return torch.multinomial(probs, 1, generator=self._gen)[:, 0]

    def _advance(self, row: _Row, t: int, pc: float, max_line: int) -> None:
        """After the verifier's token ``t``: at the end of a line (a newline, EOS, or ``max_line``
        tokens), stop at an ``incorrect`` verdict, a line without a verdict or the last step; else
        queue the next step and the marker."""
        ends = t == self.eos_id or "\n" in self._pieces[t]
        if not ends:
            row.line.append(t)
            row.pc.append(pc)
            if len(row.line) < max_line:
                if self.tool is not None:
                    self._call_tool(row)
                return
        if row.solving:
            self._end_solution_line(row, t if ends else None)
            return
        i = len(row.lines)
        row.lines.append(row.line)
        row.line_pc.append(row.pc)
        row.line, row.pc = [], []
        got = parse_line("Step 1:" + "".join(self._pieces[x] for x in row.lines[-1]))
        if got is None or not got[1] or i + 1 >= len(row.segs) or t == self.eos_id or not ends:
            row.done = True
            return
        row.forced = [*row.segs[i + 1], *self.marker]

    def _end_solution_line(self, row: _Row, end: int | None) -> None:
        """A line of the verifier's own solution is written (``end``: the newline or EOS token
        that ended it, ``None`` when the line ran to ``max_line``): the solution ends at a line
        that states an answer (or at EOS, or after :data:`MAX_SOLVE_LINES`), and step 1 and the
        marker are fed (with a :attr:`~GenerativeScorer.solver`: the row is done, the verifier
        reads the solution afterwards)."""
        self.compute["solution_tokens"] += len(row.line)
        row.solution_ids += row.line if end is None else [*row.line, end]
        row.solved.append(self._text(row.line))
        row.line, row.pc = [], []
        if (
            end != self.eos_id
            and extract_answer(row.solved[-1]) is None
            and len(row.solved) < MAX_SOLVE_LINES
        ):
            return
        row.solving = False
        row.contexts = step_contexts(row.problem, row.steps, "\n".join(row.solved))
        if self.solver is None:
            row.forced = [*row.segs[0], *self.marker]
        else:
            row.done = True

    def _call_tool(self, row: _Row) -> None:
        """Queue what the tool feeds after the line written so far (nothing when it feeds nothing);
        on a line of the verifier's own solution it sees the problem and the lines before."""
        if row.solving:  # step_contexts' context of the next line of the solution
            context = "\n".join([row.problem, *row.solved])
        else:
            context = row.contexts[len(row.lines)]
        fed = self.tool.complete(self._text(row.line), context)
        if fed is not None:
            row.fed = self.tokenizer(fed, add_special_tokens=False)["input_ids"]
            self.compute["tool_calls"] += 1


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering of a batch of distributions (renormalised)."""
    sp, si = probs.sort(-1, descending=True)
    drop = sp.cumsum(-1) - sp > top_p
    sp[drop] = 0.0
    out = torch.zeros_like(probs).scatter(-1, si, sp)
    return out / out.sum(-1, keepdim=True)
