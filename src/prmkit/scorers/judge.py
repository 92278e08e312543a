"""Generative judge scorer: an LLM critic over an OpenAI-compatible chat API (ProcessBench protocol).

The solution's steps are wrapped as ``<paragraph_i>\\n...\\n</paragraph_i>`` (0-indexed) inside
ProcessBench's critique prompt, and the model is asked for the index of the earliest wrong
paragraph, or -1, in ``\\boxed{}``. With ``k`` samples the prediction is the majority over the
*parsable* answers (ties: the answer seen first). Step scores follow from the predicted first
error ``j``: 1.0 before ``j``, 0.0 at and after ``j``; ``-1`` gives all 1.0.

Unparsable output (no ``\\boxed{}``, not an integer, or out of range) is counted in
:attr:`JudgeScorer.stats`; when *no* sample of a solution parses, the solution gets
``on_unparsable`` for every step: ``None`` (default: unknown, never counted as an error) or a
number (e.g. ``0.0`` reproduces ProcessBench, where unparsable output is a miss on correct
solutions). :meth:`JudgeScorer.judge` returns the full verdicts (votes, raw texts).

Example:
    >>> parse_verdict("... so the answer is \\\\boxed{2}.", n_steps=4)
    2
    >>> parse_verdict("\\\\boxed{-1}", n_steps=4), parse_verdict("no idea", n_steps=4)
    (-1, None)
    >>> scores_from_first_error(1, 3), scores_from_first_error(-1, 2)
    ([1.0, 0.0, 0.0], [1.0, 1.0])
    >>> majority([None, 2, 1, 2]), majority([None, None])
    (2, None)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prmkit.clients.openai_compat import OpenAIClient, choice_text, client_for
from prmkit.errors import PrmkitError
from prmkit.runs import derive_seed
from prmkit.scorers.base import SCORERS, Scorer, StepScores

#: ProcessBench ``code/templates/critique_template.txt``
CRITIQUE_TEMPLATE = """The following is a math problem and a solution (split into paragraphs, enclosed with tags and indexed from 0):

[Math Problem]

{problem}

[Solution]

{tagged_response}

Your task is to review and critique the solution paragraph by paragraph. Once you identify an error in a paragraph, return the index of the paragraph where the earliest error occurs. Otherwise, return the index of -1 (which typically denotes "not found").

Please put your final answer (i.e., the index) in \\boxed{{}}."""


def tag_paragraphs(steps: Sequence[str]) -> str:
    """Steps wrapped in ``<paragraph_i>`` tags, separated by blank lines (as ProcessBench does).

    Example:
        >>> print(tag_paragraphs(["a", "b"]))
        <paragraph_0>
        a
        </paragraph_0>
        <BLANKLINE>
        <paragraph_1>
        b
        </paragraph_1>
    """
    return "\n\n".join(f"<paragraph_{i}>\n{s}\n</paragraph_{i}>" for i, s in enumerate(steps)).strip()


def critique_prompt(problem: str, steps: Sequence[str], template: str = CRITIQUE_TEMPLATE) -> str:
    """The critique prompt for one solution."""
    return template.format(problem=problem, tagged_response=tag_paragraphs(steps))


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (balanced braces), or ``None``.

    Example:
        >>> last_boxed("\\\\boxed{1} then \\\\boxed{{-1}}")
        '{-1}'
    """
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


_INT = re.compile(r"^[\s{}$]*(-?\d+)[\s{}$.]*$")


def parse_verdict(text: str, n_steps: int) -> int | None:
    """The predicted first-error index from a critique, or ``None`` when unparsable/out of range."""
    boxed = last_boxed(text)
    if boxed is None:
        return None
    m = _INT.match(boxed)
    if not m:
        return None
    v = int(m.group(1))
    return v if -1 <= v < n_steps else None


def majority(preds: Sequence[int | None]) -> int | None:
    """Most common parsable prediction (ties: the one seen first); ``None`` when none parsed."""
    valid = [p for p in preds if p is not None]
    if not valid:
        return None
    return Counter(valid).most_common(1)[0][0]


def scores_from_first_error(first_error: int, n_steps: int) -> list[float]:
    """1.0 before the first error, 0.0 at and after it; all 1.0 for -1."""
    if first_error < 0:
        return [1.0] * n_steps
    return [1.0] * first_error + [0.0] * (n_steps - first_error)


@dataclass
class Verdict:
    """A judged solution: the voted first error (``None`` = unparsable), the votes and raw texts."""

    first_error: int | None
    votes: list[int | None]
    texts: list[str] = field(default_factory=list)
    completion_tokens: int = 0


@SCORERS.register("judge")
class JudgeScorer(Scorer):
    """An LLM judge as a PRM (ProcessBench critic protocol).

    Args:
        base_url: OpenAI-compatible server (default ``$OPENAI_BASE_URL``).
        model: model name (default: the first the server lists).
        k: samples per solution (majority vote); ``k=1`` with ``temperature=0`` is greedy.
        temperature, top_p, max_tokens: sampling (ProcessBench voting: k=8, T=0.7-1.0).
        seed: base seed sent with each request (per-solution seeds are derived from it).
        on_unparsable: score for every step when no sample parses (``None`` or a number).
        send_n: ask for ``k`` choices in one request; missing ones are requested one by one.
        template: critique prompt with ``{problem}`` and ``{tagged_response}``.
        extra_body: extra JSON fields (``{"top_k": 20}``, ``{"chat_template_kwargs": ...}``).
        api_key, timeout, max_retries, max_concurrency: see :class:`OpenAIClient`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        k: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 2048,
        seed: int = 0,
        on_unparsable: float | None = None,
        send_n: bool = True,
        template: str = CRITIQUE_TEMPLATE,
        system: str | None = None,
        extra_body: dict[str, Any] | None = None,
        api_key: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 5,
        max_concurrency: int = 8,
        client: OpenAIClient | None = None,
    ) -> None:

        if k < 1:
            raise PrmkitError("k must be >= 1", field="k")
        if on_unparsable is not None and not 0.0 <= float(on_unparsable) <= 1.0:
            raise PrmkitError("on_unparsable must be None or in [0, 1]", field="on_unparsable")
        self.client = client_for(
            client,
            base_url,
            who="the judge",
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
        )
        self._model = model
        self.k = k
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.seed = seed
        self.on_unparsable = None if on_unparsable is None else float(on_unparsable)
        self.send_n = send_n
        self.template = template
        self.system = system
        self.extra_body = dict(extra_body or {})
        #: counters: solutions judged, samples drawn, unparsable samples, solutions with no parsable sample
        self.stats = {"solutions": 0, "samples": 0, "unparsable_samples": 0, "unparsable_solutions": 0}

    @classmethod
    def load(cls, path: str | None = None, **options: Any) -> JudgeScorer:
        """``load_scorer("judge", MODEL_NAME, base_url=..., k=8, temperature=0.7)``; ``path`` is the model name."""
        if path is not None and "model" not in options:
            options["model"] = path
        return cls(**options)

    @property
    def model(self) -> str:
        if self._model is None:
            self._model = self.client.first_model()
        return self._model

    def _request(self, prompt: str, n: int, seed: int) -> dict[str, Any]:
        msgs = ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": prompt}
        ]
        body = {
            "model": self.model,
            "messages": msgs,
            "n": n,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": seed,
            **self.extra_body,
        }
        return self.client.post("chat/completions", body)

    def _judge_one(self, item: tuple[str, list[str]]) -> Verdict:
        problem, steps = item
        prompt = critique_prompt(problem, steps, self.template)
        texts: list[str] = []
        tokens = 0
        while len(texts) < self.k:
            want = self.k if (self.send_n and not texts) else 1
            # seeds depend on the content, not the batch position: resumed runs ask the same
            seed = derive_seed(self.seed, problem, tuple(steps), len(texts)) & 0x7FFFFFFF
            body = self._request(prompt, want, seed)
            choices = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
            if not choices:
                raise PrmkitError(f"{self.client.base_url}/chat/completions: response has no choices")
            texts.extend(choice_text(c) for c in choices[: self.k - len(texts)])
            tokens += int((body.get("usage") or {}).get("completion_tokens") or 0)
        votes = [parse_verdict(t, len(steps)) for t in texts]
        return Verdict(first_error=majority(votes), votes=votes, texts=texts, completion_tokens=tokens)

    def judge(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[Verdict]:
        """Verdicts for each solution (requests run concurrently, results in input order).

        Solutions with no steps get ``Verdict(-1, [])`` without a request.
        """
        if len(problems) != len(steps):
            raise PrmkitError(f"{len(problems)} problems but {len(steps)} step lists", field="steps")
        items = [(p, list(s)) for p, s in zip(problems, steps, strict=True) if s]
        _ = self.model if items else None  # resolve once before the threads start
        judged = iter(self.client.map(self._judge_one, items, "judging"))
        out = [next(judged) if s else Verdict(first_error=-1, votes=[]) for s in steps]
        for v, s in zip(out, steps, strict=True):
            if not s:
                continue
            self.stats["solutions"] += 1
            self.stats["samples"] += len(v.votes)
            self.stats["unparsable_samples"] += sum(x is None for x in v.votes)
            self.stats["unparsable_solutions"] += v.first_error is None
        return out

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        out: list[StepScores] = []
        for v, s in zip(self.judge(problems, steps), steps, strict=True):
            if v.first_error is None:
                out.append([self.on_unparsable] * len(s))
            else:
                out.append(list(scores_from_first_error(v.first_error, len(s))))
        return out

    def close(self) -> None:
        self.client.close()
