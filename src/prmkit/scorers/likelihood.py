"""The ``lm-likelihood`` PRM family: step scores from a causal LM's own token probabilities.

A language model that has learned a domain assigns low probability to the tokens where a step goes
wrong (a slipped result digit, a misread operand, the wrong operator, a stale value after a
skipped step). This family reads, in one forward pass over ``problem SEP step1 SEP step2 ...``
(the ``token-classification`` layout), per step the log-probabilities ``l_t = log p(y_t | y_<t)``
of the step's own tokens, and maps five features to a probability with a logistic head fitted on
step labels (:func:`prmkit.train.likelihood.fit_head`):

    phi(step) = [min_t l_t, sum_t l_t, min over digit tokens l_t, sum over digit tokens l_t,
                 #{t : l_t < log 0.1}]
    score = sigmoid(w . (phi - mu) / sigma + b)

(digit features are 0 for a step without digits). The head's ``mu``, ``sigma``, ``w`` and ``b``
live in ``prmkit.json`` under ``likelihood_head``; the model is a plain causal LM checkpoint.

Which of a step's tokens the features read is the head's ``span`` (:data:`SPANS`):

- ``agent`` (the default, also for a head without the key): an agent step that begins with the
  previous observation (``Observation: ...`` then ``Thought: ...``/``Action: ...``, the step text
  of :func:`prmkit.trajectory.step_text`) is read from its first ``Thought: ``/``Action: `` line
  on: the observation is environment text (a search result's ids, a lookup's prices) that even a
  perfect base LM cannot predict, so its log-probabilities are noise that drowns the agent's own
  slips. A step without a leading ``Observation: `` (every arithmetic step) is read whole, so
  ``agent`` is ``step`` there.
- ``action``: from the step's last ``Action: `` line on (the thought is skipped too).
- ``step``: every token of the step.

Example (hand-checkable features: a two-token step whose tokens have probabilities 1/2 and 1/4)::

    >>> import math, torch
    >>> logp = torch.log(torch.tensor([0.5, 0.25]))
    >>> [round(v, 4) for v in step_features(logp, torch.tensor([False, True]))]
    [-1.3863, -2.0794, -1.3863, -1.3863, 0.0]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import AutoModelForCausalLM

from prmkit.errors import PrmkitError
from prmkit.render import Rendered
from prmkit.scorers.base import SCORERS, StepScores
from prmkit.scorers.neural import NeuralScorer, _from_pretrained, _pad

FEATURES = ("min_logp", "sum_logp", "min_digit_logp", "sum_digit_logp", "n_below_0.1")
LOW = math.log(0.1)
#: which tokens of a step the features read (see the module doc)
SPANS = ("agent", "action", "step")
_AGENT_LINE = re.compile(r"\n(?:Thought|Action): ")
_ACTION_LINE = re.compile(r"(?:^|\n)Action: ")


def span_offset(text: str, span: str = "agent") -> int:
    """Character offset in a step's ``text`` where the features of ``span`` start.

    Example:
        >>> step = "Observation: Result: 9\\nThought: The answer is 9.\\nAction: answer(...)"
        >>> step[span_offset(step, "agent"):][:8], step[span_offset(step, "action"):][:7]
        ('Thought:', 'Action:')
        >>> span_offset("3 + 4 = 7", "agent"), span_offset(step, "step")
        (0, 0)
    """
    if span == "step":
        return 0
    if span == "action":
        found = list(_ACTION_LINE.finditer(text))
        return found[-1].end() - len("Action: ") if found else 0
    if span != "agent":
        raise PrmkitError(f"unknown likelihood span {span!r}; known: {', '.join(SPANS)}", field="span")
    if not text.startswith("Observation: "):
        return 0
    m = _AGENT_LINE.search(text)
    return m.start() + 1 if m else len(text)


class _Pieces:
    """Each token id's text (cached), to find a span's first token without the step's string."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[int, str] = {}

    def start(self, ids: Sequence[int], span: str) -> int:
        """Index in ``ids`` (a step's tokens) of the first token of ``span``."""
        if span == "step":
            return 0
        texts = []
        for i in ids:
            if i not in self.cache:
                self.cache[i] = self.tokenizer.decode([i])
            texts.append(self.cache[i])
        c = span_offset("".join(texts), span)
        pos = 0
        for k, t in enumerate(texts):
            if pos >= c:
                return k
            pos += len(t)
        return len(texts)


def step_features(logp: torch.Tensor, digit: torch.Tensor) -> list[float]:
    """The five features of one step from its tokens' log-probabilities and digit mask."""
    d = logp[digit]
    return [
        float(logp.min()),
        float(logp.sum()),
        float(d.min()) if d.numel() else 0.0,
        float(d.sum()) if d.numel() else 0.0,
        float((logp < LOW).sum()),
    ]


def digit_mask(tokenizer: Any) -> torch.Tensor:
    """``mask[id]`` is True for tokens made of digits only (after the byte-level space marker)."""
    mask = torch.zeros(len(tokenizer), dtype=torch.bool)
    for tok, i in tokenizer.get_vocab().items():
        s = tok.replace("\u0120", "").replace("\u2581", "")
        if s.isdigit() and i < len(mask):
            mask[i] = True
    return mask


def token_logprobs(model: Any, enc: dict[str, Any]) -> torch.Tensor:
    """``out[b, t]`` = log p(input_ids[b, t] | input_ids[b, <t]) (``out[:, 0]`` = 0)."""
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                   position_ids=enc["position_ids"], use_cache=False).logits  # fmt: skip
    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    got = lp.gather(2, enc["input_ids"][:, 1:, None])[..., 0]
    return torch.cat([torch.zeros_like(got[:, :1]), got], dim=1)


def batch_features(
    model: Any,
    tokenizer: Any,
    rendered: Sequence[Rendered],
    digits: torch.Tensor,
    pad_id: int,
    span: str = "agent",
    pieces: _Pieces | None = None,
) -> list[list[list[float] | None]]:
    """Features of every step of every rendered solution (one forward for the batch; right
    padding), over the step's ``span`` tokens (:data:`SPANS`)."""
    span_name = span
    if span_name not in SPANS:
        raise PrmkitError(f"unknown likelihood span {span!r}; known: {', '.join(SPANS)}", field="span")
    pieces = pieces if pieces is not None else _Pieces(tokenizer)
    enc = _pad(rendered, pad_id, "right", next(model.parameters()).device, causal=True)
    with torch.inference_mode():
        lp = token_logprobs(model, enc).cpu()
    ids = enc["input_ids"].cpu()
    out: list[list[list[float] | None]] = []
    for b, r in enumerate(rendered):
        row: list[list[float] | None] = []
        for span, pos in zip(r.step_spans, r.step_positions, strict=True):
            if span is None or pos is None or span[1] <= span[0]:
                row.append(None)
                continue
            a, e = span
            if span_name != "step":
                a = min(a + pieces.start(ids[b, a:e].tolist(), span_name), e - 1)  # >= one token
            row.append(step_features(lp[b, a:e], digits[ids[b, a:e]]))
        out.append(row)
    return out


def apply_head(feats: Sequence[float], head: dict[str, Any]) -> float:
    """The step probability of one feature vector under a fitted head.

    Example:
        >>> apply_head([1.0, 2.0], {"mu": [0.0, 0.0], "sigma": [1.0, 1.0], "w": [1.0, -1.0], "b": 1.0})
        0.5
    """
    z = head["b"] + sum(
        w * (f - m) / s for f, m, s, w in zip(feats, head["mu"], head["sigma"], head["w"], strict=True)
    )
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


@SCORERS.register("lm-likelihood")
class LikelihoodScorer(NeuralScorer):
    """A causal LM + the logistic ``likelihood_head`` of its ``prmkit.json`` (see the module docs)."""

    format_name: ClassVar[str] = "lm-likelihood"

    def _setup(self) -> None:
        head = self.meta.get("likelihood_head")
        if not head or any(k not in head for k in ("mu", "sigma", "w", "b")):
            raise PrmkitError("an lm-likelihood PRM needs 'likelihood_head' (mu, sigma, w, b) in prmkit.json")
        self.head = head
        self.span = head.get("span", "agent")
        if self.span not in SPANS:
            raise PrmkitError(f"likelihood_head.span {self.span!r} is not one of {', '.join(SPANS)}")
        self.pieces = _Pieces(self.tokenizer)
        self.padding_side = "right"
        self.digits = digit_mask(self.tokenizer)

    @classmethod
    def _load_model(cls, path: str | Path, dtype: Any, options: dict[str, Any]) -> Any:
        return _from_pretrained(AutoModelForCausalLM, path, dtype)

    def _forward(self, batch: Sequence[Rendered]) -> list[StepScores]:
        self.forward_calls += 1
        feats = batch_features(
            self.model, self.tokenizer, batch, self.digits, self.pad_id, self.span, self.pieces
        )
        return [[None if f is None else apply_head(f, self.head) for f in row] for row in feats]
