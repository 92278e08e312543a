"""vLLM scoring backend (optional extra ``prmkit[vllm]``, GPU): token-level pooling at the steps.

Solutions are rendered by the same :func:`prmkit.render.render` as every other scorer and sent
to vLLM as token ids (``TokensPrompt``), so the step positions are known exactly. vLLM runs the
model as a pooling model (``runner="pooling"``; ``task="reward"`` on older versions) with a
token-wise pooler:

- ``STEP`` pooling (``step_tag_id`` = the format's step tag, ``returned_token_ids`` = the
  ``good``/``bad`` token ids for LM-head PRMs, softmax on): vLLM returns one row per occurrence
  of the tag token; rows are mapped back to our step positions by occurrence order, so a step
  whose *text* contains the tag token cannot shift the others.
- ``ALL`` pooling (chat-turn, or formats whose tag is several tokens): one row per token, read
  at our step positions.

The row at a step is a probability vector: class ``positive_index`` for classifier heads
(``token-classification``, ``qwen-prm``), the first entry (``good``) for ``lm-token-pair``.
A single-column row (value head) gets a sigmoid when vLLM did not already apply an activation.

Example (GPU with vLLM installed)::

    scorer = load_scorer("vllm", "Qwen/Qwen2.5-Math-PRM-7B", render_format="qwen-prm")
    scorer.score_batch([question], [steps])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.render import PRMFormat, Rendered, _tag_ids, get_format, render_many
from prmkit.scorers.base import SCORERS, Scorer, StepScores, read_prmkit_json
from prmkit.scorers.neural import format_from_json, split_format_options


def vllm_available() -> str | None:
    """``None`` when vLLM and a CUDA GPU are usable, else the reason they are not.

    Example:
        >>> isinstance(vllm_available(), (str, type(None)))
        True
    """
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "vllm is not installed (pip install 'prmkit[vllm]')"
    try:
        import torch
    except ImportError:  # pragma: no cover
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "vllm needs a CUDA GPU and none is visible"
    return None


def rows_to_step_scores(
    rows: Any,
    r: Rendered,
    fmt: PRMFormat,
    tag_id: int | None,
    *,
    read: str = "classification",
    activated: bool = True,
) -> StepScores:
    """Map vLLM's pooled rows for one prompt onto the steps of ``r``.

    ``rows``: one row per token (ALL pooling) or one per occurrence of ``tag_id`` (STEP pooling).
    ``read``: ``classification`` (column ``positive_index``) or ``token-pair`` (column 0 =
    good). ``activated``: whether rows are already probabilities (softmax/sigmoid applied).

    Example:
        >>> r = Rendered([5, 9, 7, 9], [1, 3], [(0, 1), (2, 3)])
        >>> rows_to_step_scores([[0.2, 0.8], [0.9, 0.1]], r, get_format("qwen-prm"), tag_id=9)
        [0.8, 0.1]
        >>> rows_to_step_scores([[0.0, 0.0]] * 4, r, get_format("qwen-prm"), tag_id=None, activated=False)
        [0.5, 0.5]
    """
    rows = [list(map(float, x)) if not isinstance(x, int | float) else [float(x)] for x in _as_list(rows)]
    n = len(r.input_ids)
    if len(rows) == n:
        index = {p: p for p in r.step_positions if p is not None}
    elif tag_id is not None:
        occ = [i for i, t in enumerate(r.input_ids) if t == tag_id]
        if len(rows) != len(occ):
            raise PrmkitError(f"vLLM returned {len(rows)} pooled rows for {len(occ)} step tags ({n} tokens)")
        index = {p: k for k, p in enumerate(occ)}
    else:
        raise PrmkitError(f"vLLM returned {len(rows)} rows for a {n}-token prompt without a step tag")
    out: StepScores = []
    for p in r.step_positions:
        if p is None or p not in index:
            out.append(None)
            continue
        row = rows[index[p]]
        out.append(_read_row(row, fmt, read, activated))
    return out


def _read_row(row: list[float], fmt: PRMFormat, read: str, activated: bool) -> float:
    if len(row) == 1:
        v = row[0]
        return v if activated else 1.0 / (1.0 + math.exp(-v))
    col = 0 if read == "token-pair" else fmt.positive_index
    if activated:
        return row[col]
    m = max(row)
    exps = [math.exp(x - m) for x in row]
    return exps[col] / sum(exps)


def _as_list(x: Any) -> list:
    if hasattr(x, "tolist"):
        return x.tolist()
    return list(x)


@SCORERS.register("vllm")
class VLLMScorer(Scorer):
    """Any neural PRM format served by vLLM's pooling runner (one prompt per solution).

    Args:
        path: model directory or hub id.
        render_format: PRM format to render with (default from ``prmkit.json``, else ``qwen-prm``).
        max_length, dtype, gpu_memory_utilization, tensor_parallel_size: passed to ``vllm.LLM``.
        **options: PRMFormat overrides (``step_tag``, ``good_token``...) and extra ``LLM`` kwargs.
    """

    def __init__(
        self,
        path: str,
        render_format: str | None = None,
        *,
        dtype: str | None = None,
        max_length: int | None = None,
        gpu_memory_utilization: float = 0.85,
        tensor_parallel_size: int = 1,
        llm: Any = None,
        tokenizer: Any = None,
        **options: Any,
    ) -> None:
        reason = None if llm is not None else vllm_available()
        if reason:
            raise PrmkitError(f"vLLM scorer unavailable: {reason}")
        meta = read_prmkit_json(path) if Path(str(path)).is_dir() else None
        fmt_opts, rest = split_format_options(options)
        name = render_format or (meta or {}).get("format") or "qwen-prm"
        if name == "vllm":
            name = (meta or {}).get("render_format", "qwen-prm")
        self.fmt = get_format(name, **{**format_from_json(meta, name), **fmt_opts})
        self.read = "token-pair" if self.fmt.head == "token-pair" else "classification"
        if self.fmt.head == "log-ratio":
            raise PrmkitError("the implicit PRM is not served through vLLM pooling; use format 'implicit'")
        if tokenizer is None:
            from prmkit.scorers.neural import load_tokenizer

            tokenizer = load_tokenizer(path)
        self.tokenizer = tokenizer
        tag = _tag_ids(tokenizer, self.fmt.step_tag) if self.fmt.step_tag else []
        # STEP pooling needs a single-token tag; chat-turn (no tag) and multi-token tags use ALL.
        self.tag_id = tag[0] if len(tag) == 1 and self.fmt.layout != "chat-turns" else None
        self.max_length = max_length
        self.truncated_steps = 0
        self.activated = True
        self.llm = (
            llm
            if llm is not None
            else self._make_llm(path, dtype, gpu_memory_utilization, tensor_parallel_size, rest)
        )

    @classmethod
    def load(
        cls,
        path: str | None,
        *,
        device: str | None = None,
        batch_tokens: int | None = None,
        format: str | None = None,
        **options: Any,
    ) -> VLLMScorer:
        if path is None:
            raise PrmkitError("scorer 'vllm' needs a model path (--prm PATH)")
        if batch_tokens is not None:
            options.setdefault("max_num_batched_tokens", batch_tokens)
        return cls(path, options.pop("render_format", None) or format, **options)

    def _pooler_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"pooling_type": "STEP" if self.tag_id is not None else "ALL"}
        if self.tag_id is not None:
            cfg["step_tag_id"] = self.tag_id
        if self.read == "token-pair":
            from prmkit.render import _single_token_id

            cfg["returned_token_ids"] = [
                _single_token_id(self.tokenizer, self.fmt.good_token, "good token"),
                _single_token_id(self.tokenizer, self.fmt.bad_token, "bad token"),
            ]
            cfg["softmax"] = True
        return cfg

    def _make_llm(self, path: str, dtype: Any, mem: float, tp: int, extra: dict[str, Any]) -> Any:
        from vllm import LLM

        kwargs: dict[str, Any] = {
            "model": str(path),
            "dtype": dtype or "auto",
            "gpu_memory_utilization": mem,
            "tensor_parallel_size": tp,
            "enforce_eager": extra.pop("enforce_eager", False),
            **extra,
        }
        if self.max_length:
            kwargs["max_model_len"] = self.max_length
        pooler = self._pooler_config()
        try:  # vLLM >= 0.10: runner + PoolerConfig
            from vllm.config import PoolerConfig

            kwargs_new = dict(kwargs, runner="pooling", pooler_config=PoolerConfig(**pooler))
            if self.read == "token-pair":
                kwargs_new.setdefault("convert", "reward")
            return LLM(**kwargs_new)
        except (TypeError, ImportError):
            pass
        from vllm.config import PoolerConfig  # vLLM 0.7-0.9: task="reward"

        return LLM(**kwargs, task="reward", override_pooler_config=PoolerConfig(**pooler))

    def _encode(self, prompts: list[Any]) -> list[Any]:
        llm = self.llm
        for task in ("token_classify", "encode", None):
            try:
                if task is None:
                    return llm.reward(prompts, use_tqdm=False)
                return llm.encode(prompts, pooling_task=task, use_tqdm=False)
            except (TypeError, ValueError, AttributeError):
                continue
        raise PrmkitError("this vLLM version offers no token-wise pooling API (encode/reward)")

    def score_batch(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[StepScores]:
        rendered = render_many(problems, steps, self.fmt, self.tokenizer, self.max_length)
        self.truncated_steps += sum(r.truncated for r in rendered)
        prompts = [{"prompt_token_ids": r.input_ids} for r in rendered]
        outs = self._encode(prompts)
        result: list[StepScores] = []
        for r, o in zip(rendered, outs, strict=True):
            data = o.outputs.data if hasattr(o.outputs, "data") else o.outputs
            result.append(
                rows_to_step_scores(data, r, self.fmt, self.tag_id, read=self.read, activated=self.activated)
            )
        return result
