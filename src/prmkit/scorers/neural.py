"""Neural PRM families: every step of a solution scored in ONE forward pass.

Each family is a :class:`NeuralScorer` subclass registered in :data:`~prmkit.scorers.SCORERS` under
its :data:`~prmkit.render.PRM_FORMATS` name. All of them render with
:func:`prmkit.render.render` (the function the trainer uses), batch by a token budget
(:mod:`prmkit.scorers.engine`), run the model body once per batch under ``torch.inference_mode``,
gather the hidden states at the step positions and apply the head only there.

============================  ==================================  ==============================
family (``SCORERS`` name)     model                               step score
============================  ==================================  ==============================
``token-classification``      ``AutoModelForTokenClassification``  softmax(head)[positive_index]
``value-head``                token classifier, ``num_labels=1``   sigmoid(head)
``qwen-prm``                  :class:`QwenPRMModel`                softmax(score head)[1]
``lm-token-pair``             ``AutoModelForCausalLM``             softmax(lm[good], lm[bad])[good]
``chat-turn``                 ``AutoModelForCausalLM``             same, one user turn per step
============================  ==================================  ==============================

Build one from disk with ``load`` (``load_scorer(name, path)`` calls it; ``prmkit.json`` beside
the checkpoint names the family when no name is given) or from objects in memory::

    scorer = TokenClassificationScorer(model, tokenizer)          # model/tokenizer already loaded
    scorer = load_scorer("lm-token-pair", "runs/shepherd", step_tag="ки", good_token="+")
    scores = scorer.score_batch(["What is 2+3?"], [["2+3=5", "The answer is 5."]])

Steps beyond the model window are scored ``None`` and counted (``scorer.truncated_steps``, and a
warning), never shifted onto other steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

from prmkit.errors import PrmkitError
from prmkit.models.qwen_prm import QwenPRMModel
from prmkit.models.tokenizer import load_tokenizer
from prmkit.render import (
    PRM_FORMATS,
    PRMFormat,
    Rendered,
    _single_token_id,
    get_format,
    pad_batch,
    render_many,
)
from prmkit.scorers.base import SCORERS, Scorer, StepScores, read_prmkit_json
from prmkit.scorers.engine import (
    BatchPolicy,
    CostModel,
    measure_batch_factor,
    measure_cost,
    resolve_device,
    resolve_dtype,
)

#: ``PRMFormat`` fields that ``load``/constructors accept as overrides.
FORMAT_FIELDS = tuple(f for f in PRMFormat.__dataclass_fields__ if f not in ("name", "meta"))
#: ``prmkit.json`` keys that are not PRMFormat fields but mean one.
_JSON_ALIASES = {"separator": "step_tag", "step_separator": "step_tag"}


def split_format_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword options into (PRMFormat overrides, everything else).

    Example:
        >>> split_format_options({"step_tag": "ки", "device": "cpu"})
        ({'step_tag': 'ки'}, {'device': 'cpu'})
    """
    fmt, rest = {}, {}
    for k, v in options.items():
        (fmt if k in FORMAT_FIELDS else rest)[k] = v
    return fmt, rest


def format_from_json(meta: dict[str, Any] | None, family: str) -> dict[str, Any]:
    """PRMFormat overrides recorded in ``prmkit.json`` (flat keys, aliases, or a nested
    ``prm_format`` / ``render`` mapping).

    Example:
        >>> format_from_json({"format": "lm-token-pair", "separator": " <s>", "label_semantics": "hard"}, "x")
        {'step_tag': ' <s>'}
    """
    if not meta:
        return {}
    out: dict[str, Any] = {}
    for src in (meta, meta.get("prm_format") or {}, meta.get("render") or {}):
        if not isinstance(src, dict):
            continue
        for k, v in src.items():
            key = _JSON_ALIASES.get(k, k)
            if key in FORMAT_FIELDS:
                out[key] = v
    recorded = meta.get("prm_format")
    if isinstance(recorded, dict) and "tokenize" not in recorded and "tokenize" not in out:
        out["tokenize"] = "pieces"  # written before formats had `tokenize`: prmkit rendered pieces
    return out


def _from_pretrained(cls: Any, path: str | Path, dtype: Any, **kwargs: Any) -> Any:
    """``cls.from_pretrained`` with the dtype keyword of this transformers version."""
    try:
        return cls.from_pretrained(str(path), dtype=dtype, **kwargs)
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        return cls.from_pretrained(str(path), torch_dtype=dtype, **kwargs)


class NeuralScorer(Scorer):
    """Shared engine: render, batch by token budget, one forward per batch, read the head.

    Subclasses set ``format_name``, ``head_names`` (attribute names of the head module to try)
    and implement :meth:`_scores_from_head` (head output rows -> probabilities) and
    :meth:`_load_model`.

    Args:
        model: a transformers model (already loaded).
        tokenizer: its tokenizer.
        fmt: format name or :class:`PRMFormat` (default: the family's own format).
        device: ``cpu``, ``cuda``, ``cuda:1`` ... (default: the model's current device).
        dtype: ``fp32``/``bf16``/``fp16``/``auto`` (default: keep the model's dtype).
        batch_tokens: padded-token budget per forward (default by device, see engine).
        max_pad_fraction: only batch solutions within this relative length (default by device).
            Setting either one turns off the CPU's cost-based planning (see :mod:`~prmkit.scorers.engine`).
        batch_cost: a :class:`~prmkit.scorers.engine.CostModel` for cost-based planning (default:
            measured on first use, see :meth:`cost_model`).
        max_length: model window in tokens (default: the model's ``max_position_embeddings``).
        padding_side: ``right`` (default) or ``left``; scores do not depend on it.
        **format_overrides: :class:`PRMFormat` fields (``step_tag``, ``good_token``, ...).
    """

    format_name: ClassVar[str] = ""
    head_names: ClassVar[tuple[str, ...]] = ("score",)

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        fmt: str | PRMFormat | None = None,
        *,
        device: str | None = None,
        dtype: Any = None,
        batch_tokens: int | None = None,
        max_pad_fraction: float | None = None,
        max_rows: int | None = None,
        max_length: int | None = None,
        padding_side: str = "right",
        meta: dict[str, Any] | None = None,
        batch_cost: CostModel | None = None,
        **format_overrides: Any,
    ) -> None:
        bad = set(format_overrides) - set(FORMAT_FIELDS)
        if bad:
            raise PrmkitError(f"unknown option(s) for scorer '{self.format_name}': {', '.join(sorted(bad))}")
        self.fmt = get_format(fmt if fmt is not None else self.format_name, **format_overrides)
        self.tokenizer = tokenizer
        if device is not None or dtype is not None:
            dev = resolve_device(device) if device is not None else str(_model_device(model))
            model = model.to(device=dev, dtype=resolve_dtype(dtype, dev) if dtype is not None else None)
        self.model = model.eval()
        self.device = _model_device(model)
        self.policy = BatchPolicy.for_device(self.device, batch_tokens, max_pad_fraction, max_rows)
        self.batch_cost = batch_cost
        self.max_length = resolve_window(max_length, model, tokenizer)
        if padding_side not in ("right", "left"):
            raise PrmkitError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        self.padding_side = padding_side
        self.meta = dict(meta or {})
        self.truncated_steps = 0
        self.forward_calls = 0
        self.pad_id = _pad_id(tokenizer, model)
        # right padding on a causal model needs no attention mask (a real token never sees a
        # later pad), which keeps the model on its fast unmasked causal path
        self._causal = _is_causal(model)
        self._setup()

    # ------------------------------------------------------------------ construction
    def _setup(self) -> None:
        """Family-specific checks once the model and format are known."""

    @classmethod
    def _load_model(cls, path: str | Path, dtype: Any, options: dict[str, Any]) -> Any:
        raise NotImplementedError

    @classmethod
    def load(
        cls,
        path: str | Path | None,
        *,
        device: str | None = None,
        dtype: Any = None,
        batch_tokens: int | None = None,
        max_length: int | None = None,
        format: str | None = None,
        **options: Any,
    ) -> NeuralScorer:
        """Load model + tokenizer from a directory (or hub id) and build the scorer.

        Format fields come from (lowest to highest priority): the family's registered format,
        ``PATH/prmkit.json``, keyword options (``step_tag=...``). ``format`` may name another
        registered :class:`PRMFormat` to render with (e.g. a token classifier trained on the
        ``implicit`` layout).
        """
        if path is None:
            raise PrmkitError(f"scorer '{cls.format_name}' needs a model path (--prm PATH)")
        meta = read_prmkit_json(path) if Path(str(path)).is_dir() else None
        fmt_opts, rest = split_format_options(options)
        fmt_opts = {**format_from_json(meta, cls.format_name), **fmt_opts}
        fmt_name = format or (meta or {}).get("render_format") or cls.format_name
        if fmt_name not in _format_names():
            raise PrmkitError(f"unknown PRM format {fmt_name!r}; known: {', '.join(_format_names())}")
        dev = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, dev)
        model = cls._load_model(path, torch_dtype, rest)
        tokenizer = load_tokenizer(path)
        rest = {k: v for k, v in rest.items() if k not in cls._load_only_options()}
        return cls(
            model,
            tokenizer,
            fmt_name,
            device=dev,
            dtype=torch_dtype,
            batch_tokens=batch_tokens,
            max_length=max_length,
            meta=meta,
            **rest,
            **fmt_opts,
        )

    @classmethod
    def _load_only_options(cls) -> tuple[str, ...]:
        return ("trust_remote_code",)

    # ------------------------------------------------------------------ scoring
    def render_all(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[Rendered]:
        """Render every solution with the shared :func:`prmkit.render.render_many` (one tokenizer call)."""
        return render_many(problems, steps, self.fmt, self.tokenizer, self.max_length)

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        """Scores for every step of every solution, in the input order.

        Example (tiny random model, so the values are arbitrary)::

            scorer.score_batch(["1+1?"], [["1+1=2", "The answer is 2."]])  # [[0.51, 0.49]]
        """
        rendered = self.render_all(problems, steps)
        return self.score_rendered(rendered)

    def score_rendered(self, rendered: Sequence[Rendered]) -> list[StepScores]:
        """Score already rendered solutions (batched by the token budget, order restored)."""
        out: list[StepScores] = [[] for _ in rendered]
        lost = sum(r.truncated for r in rendered)
        if lost:
            self.truncated_steps += lost
            n_sol = sum(1 for r in rendered if r.truncated)
            warnings.warn(
                f"{lost} step(s) in {n_sol} solution(s) fall beyond the model window "
                f"(max_length={self.max_length}) and are scored None",
                stacklevel=2,
            )
        todo = [i for i, r in enumerate(rendered) if len(r)]
        for i, r in enumerate(rendered):
            if not len(r):
                out[i] = [None] * len(r.step_positions)
        lengths = [len(rendered[i]) for i in todo]
        if self.policy.auto and len(todo) > 1:
            # single-row costs first (cheap); the padded-batch slowdown is measured only once a
            # plan would pad at all (a big CPU model, whose plans never pad, never pays for it)
            cost = self.cost_model(batch=False)
            plan = self.policy.plan(lengths, cost)
            padded = [lengths[b[0]] for b in plan if lengths[b[0]] != lengths[b[-1]]]
            if padded and not cost.batch_measured:
                self.batch_cost = self._timed_calibration(measure_batch_factor, cost, max(padded))
                plan = self.policy.plan(lengths, self.batch_cost)
        else:
            plan = self.policy.plan(lengths)
        for batch in plan:
            idx = [todo[b] for b in batch]
            for i, s in zip(idx, self._forward([rendered[i] for i in idx]), strict=True):
                out[i] = s
        return out

    def cost_model(self, batch: bool = True) -> CostModel:
        """The forward-time model used by cost-based batching, measured once for this model on
        its device (:func:`~prmkit.scorers.engine.measure_cost`; ~0.1 s for a tiny model, ~0.5 s
        for a ~135M one) unless one was given (``batch_cost=``). ``batch=False``: single-row
        costs only (the padded-batch factor is then measured when a plan first pads)."""
        if self.batch_cost is None:
            self.batch_cost = self._timed_calibration(measure_cost, self.max_length, batch=batch)
        elif batch and not self.batch_cost.batch_measured:
            self.batch_cost = self._timed_calibration(measure_batch_factor, self.batch_cost, 128)
        return self.batch_cost

    def _timed_calibration(self, fn: Any, *args: Any, **kwargs: Any) -> CostModel:
        calls = self.forward_calls
        try:
            return fn(self._calibration_forward, *args, **kwargs)
        finally:
            self.forward_calls = calls

    def _calibration_forward(self, row_lengths: list[int]) -> None:
        batch = [Rendered([self.pad_id] * n, [n - 1], [(0, n)]) for n in row_lengths]
        self._forward(batch)

    def _forward(self, batch: Sequence[Rendered]) -> list[StepScores]:
        """One forward pass over a batch: scores at every step position."""
        enc = _pad(batch, self.pad_id, self.padding_side, self.device, causal=self._causal)
        rows, cols, owner = _gather_index(enc["positions"])
        with torch.inference_mode():
            hidden = self._hidden(enc)
            self.forward_calls += 1
            values = self._scores_from_hidden(hidden[rows, cols]) if rows else torch.empty(0)
        values = values.float().cpu().tolist()
        out: list[StepScores] = [[None] * len(p) for p in enc["positions"]]
        for (b, j), v in zip(owner, values, strict=True):
            out[b][j] = float(v)
        return out

    def _hidden(self, enc: dict[str, Any]) -> Any:
        """Last hidden states ``[B, T, H]`` of the model body."""
        body = getattr(self.model, getattr(self.model, "base_model_prefix", "model"), None)
        if body is None or body is self.model:
            raise PrmkitError(f"{type(self.model).__name__} has no separable body; cannot score")
        out = body(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            position_ids=enc["position_ids"],
            use_cache=False,
        )
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    def _head(self) -> Any:
        for name in self.head_names:
            head = getattr(self.model, name, None)
            if head is not None:
                return head
        raise PrmkitError(
            f"{type(self.model).__name__} has none of the head modules {self.head_names} "
            f"expected by the '{self.format_name}' family"
        )

    def _scores_from_hidden(self, h: Any) -> Any:
        return self._scores_from_head(self._head()(h))

    def _scores_from_head(self, logits: Any) -> Any:
        raise NotImplementedError


# ---------------------------------------------------------------------- helpers


def _format_names() -> list[str]:
    return PRM_FORMATS.names()


def _model_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover
        return torch.device("cpu")


def resolve_window(
    max_length: int | None, model: Any, tokenizer: Any, default: int | None = None
) -> int | None:
    """The token window a scorer or the trainer uses: ``max_length`` when it fits the model,
    else ``default`` capped by the model's positions (``None``: the model's positions).

    A ``max_length`` below 1 or above the model's positions is an error naming ``max_length``.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> m = NS(config=NS(max_position_embeddings=512))
        >>> resolve_window(None, m, None), resolve_window(None, m, None, default=1024), resolve_window(64, m, None)
        (512, 512, 64)
        >>> resolve_window(1024, m, None)
        Traceback (most recent call last):
        prmkit.errors.PrmkitError: field 'max_length': must be between 1 and the model's 512 positions, got 1024
    """
    window = _model_window(model, tokenizer)
    if max_length is None:
        return window if default is None else min(default, window) if window is not None else default
    if max_length < 1 or (window is not None and max_length > window):
        raise PrmkitError(
            f"must be between 1 and the model's {window} positions, got {max_length}"
            if window is not None
            else f"must be >= 1, got {max_length}",
            field="max_length",
        )
    return max_length


def _model_window(model: Any, tokenizer: Any) -> int | None:
    cfg = getattr(model, "config", None)
    limits = []
    mpe = getattr(cfg, "max_position_embeddings", None)
    if isinstance(mpe, int) and mpe > 0:
        limits.append(mpe)
    tml = getattr(tokenizer, "model_max_length", None)
    if isinstance(tml, int) and 0 < tml < 10**7:
        limits.append(tml)
    return min(limits) if limits else None


def _pad_id(tokenizer: Any, model: Any) -> int:
    for v in (
        getattr(tokenizer, "pad_token_id", None),
        getattr(getattr(model, "config", None), "pad_token_id", None),
        getattr(tokenizer, "eos_token_id", None),
    ):
        if isinstance(v, int):
            return v
    return 0


def _is_causal(model: Any) -> bool:
    """True when every attention module of the model declares ``is_causal`` (decoder-only
    Llama/Qwen2/... bodies); False when any does not or none says (encoders keep their masks)."""
    flags = [m.is_causal for m in model.modules() if isinstance(getattr(m, "is_causal", None), bool)]
    return bool(flags) and all(flags)


def _pad(
    batch: Sequence[Rendered], pad_id: int, side: str, device: Any, causal: bool = False
) -> dict[str, Any]:
    """Padded ``input_ids``/``attention_mask``/``position_ids`` and shifted step positions.

    Position ids count real tokens only (``cumsum(mask) - 1``), so left padding gives every real
    token the same position as unpadded; pads attend to nothing that is read. With right padding
    on a ``causal`` model the mask is dropped: every real token precedes every pad, so causal
    attention alone never lets a real token see a pad (scores equal the unpadded ones, and the
    model keeps its fast unmasked path: up to ~1.8x faster than the masked one on a CPU).
    """
    enc = pad_batch(batch, pad_id, side=side)  # type: ignore[arg-type]
    mask = enc["attention_mask"]
    full = bool(mask.all()) or (causal and side == "right")
    if full:
        # plain 0..T-1 positions: real tokens get their unpadded positions, and pads keep
        # counting (a position plateau would be read as packed sequences and cost a mask)
        pos = torch.arange(mask.shape[-1]).expand_as(mask)
    else:
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return {
        "input_ids": enc["input_ids"].to(device),
        # an all-ones (or causal right-padding) mask is dropped: the model takes its plain causal path
        "attention_mask": None if full else mask.to(device),
        "position_ids": pos.to(device),
        "positions": enc["positions"],
        "mask": mask,
    }


def _gather_index(positions: list[list[int | None]]) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    rows: list[int] = []
    cols: list[int] = []
    owner: list[tuple[int, int]] = []
    for b, ps in enumerate(positions):
        for j, p in enumerate(ps):
            if p is not None:
                rows.append(b)
                cols.append(p)
                owner.append((b, j))
    return rows, cols, owner


# ---------------------------------------------------------------------- families


@SCORERS.register("token-classification")
class TokenClassificationScorer(NeuralScorer):
    """TRL-style token classifier: positive-class probability at each step separator.

    A classifier with one label is read as a value head (sigmoid), so a checkpoint saved with
    ``num_labels=1`` works under either name.
    """

    format_name = "token-classification"
    head_names = ("score", "classifier")

    def _setup(self) -> None:
        n = getattr(self.model.config, "num_labels", 2)
        if n > 1 and not 0 <= self.fmt.positive_index < n:
            raise PrmkitError(f"positive_index {self.fmt.positive_index} out of range for {n} labels")

    @classmethod
    def _load_model(cls, path: str | Path, dtype: Any, options: dict[str, Any]) -> Any:
        kw = {k: options[k] for k in ("num_labels", "gguf_file", "trust_remote_code") if k in options}
        return _from_pretrained(AutoModelForTokenClassification, path, dtype, **kw)

    @classmethod
    def _load_only_options(cls) -> tuple[str, ...]:
        return ("num_labels", "gguf_file", "trust_remote_code")

    def _scores_from_head(self, logits: Any) -> Any:
        if logits.shape[-1] == 1:
            return logits[:, 0].float().sigmoid()
        return logits.float().softmax(-1)[:, self.fmt.positive_index]


@SCORERS.register("chat-tools")
class ChatToolsScorer(TokenClassificationScorer):
    """Agent trajectories rendered as a tool-calling chat (PRM format ``chat-tools``): the
    positive-class probability at the end of each assistant message (after the action, before
    its result)."""

    format_name = "chat-tools"


@SCORERS.register("value-head")
class ValueHeadScorer(TokenClassificationScorer):
    """Scalar head per token (Skywork style): sigmoid of the head at each step tag.

    ``AutoModelForTokenClassification`` with ``num_labels=1`` is the value head; a head with
    more outputs is read at ``positive_index`` (``value_index``) before the sigmoid.
    """

    format_name = "value-head"
    head_names = ("score", "v_head", "value_head", "classifier")

    def _setup(self) -> None:
        pass

    @classmethod
    def _load_model(cls, path: str | Path, dtype: Any, options: dict[str, Any]) -> Any:
        options = {"num_labels": 1, **options}
        return super()._load_model(path, dtype, options)

    def _scores_from_head(self, logits: Any) -> Any:
        col = 0 if logits.shape[-1] == 1 else self.fmt.positive_index
        return logits[:, col].float().sigmoid()


@SCORERS.register("qwen-prm")
class QwenPRMScorer(NeuralScorer):
    """Qwen2.5-Math-PRM: chat template, ``<extra_0>`` after each step, P(class 1) there."""

    format_name = "qwen-prm"
    head_names = ("score",)

    @classmethod
    def _load_model(cls, path: str | Path, dtype: Any, options: dict[str, Any]) -> Any:
        return _from_pretrained(QwenPRMModel, path, dtype)

    def _scores_from_head(self, logits: Any) -> Any:
        return logits.float().softmax(-1)[:, self.fmt.positive_index]


@SCORERS.register("lm-token-pair")
class TokenPairScorer(NeuralScorer):
    """Math-Shepherd / OpenR style: softmax over the LM logits of (good, bad) at each step tag.

    Tag and tokens are format fields: ``step_tag`` (default ``ки``), ``good_token`` (``+``),
    ``bad_token`` (``-``). Only the two needed rows of the LM head are applied.
    """

    format_name = "lm-token-pair"
    head_names = ("lm_head",)

    def _setup(self) -> None:
        self.good_id = _single_token_id(self.tokenizer, self.fmt.good_token, "good token")
        self.bad_id = _single_token_id(self.tokenizer, self.fmt.bad_token, "bad token")

    @classmethod
    def _load_model(cls, path: str | Path, dtype: Any, options: dict[str, Any]) -> Any:
        kw = {k: options[k] for k in ("gguf_file", "trust_remote_code") if k in options}
        return _from_pretrained(AutoModelForCausalLM, path, dtype, **kw)

    @classmethod
    def _load_only_options(cls) -> tuple[str, ...]:
        return ("gguf_file", "trust_remote_code")

    def _scores_from_hidden(self, h: Any) -> Any:
        head = self._head()
        ids = [self.good_id, self.bad_id]
        w = head.weight[ids]
        logits = h @ w.T
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[ids]
        return logits.float().softmax(-1)[:, 0]


@SCORERS.register("chat-turn")
class ChatTurnScorer(TokenPairScorer):
    """RLHFlow style: each step a user turn answered ``+``; P(+) vs ``-`` at each answer,
    all turns in one forward pass (the conversation is rendered once with every answer ``+``)."""

    format_name = "chat-turn"


# Reference layouts and prmkit's separate-pieces variants: same heads, another PRMFormat.
@SCORERS.register("trl")
class TRLScorer(TokenClassificationScorer):
    """TRL ``PRMTrainer`` layout (BOS, prompt, each step + separator ids), 2-class head."""

    format_name = "trl"


@SCORERS.register("skywork-prm")
class SkyworkScorer(ValueHeadScorer):
    """Skywork-o1 Open PRM layout (``bos + problem + "\\n"``, each step + ``"\\n"``), value head."""

    format_name = "skywork-prm"


@SCORERS.register("lm-token-pair-pieces")
class TokenPairPiecesScorer(TokenPairScorer):
    """prmkit's separate-pieces token-pair layout (for PRMs trained by prmkit with it)."""

    format_name = "lm-token-pair-pieces"


@SCORERS.register("qwen-prm-pieces")
class QwenPRMPiecesScorer(QwenPRMScorer):
    """prmkit's separate-pieces Qwen-PRM layout (equal ids to ``qwen-prm`` on Qwen2 tokenizers)."""

    format_name = "qwen-prm-pieces"


@SCORERS.register("chat-turn-pieces")
class ChatTurnPiecesScorer(ChatTurnScorer):
    """prmkit's separate-pieces chat-turn layout (for PRMs trained by prmkit with it)."""

    format_name = "chat-turn-pieces"
