"""Implicit PRM (docs/methods.md#d3-implicit-prm): process rewards from the log-ratio of two causal LMs.

For a solution rendered as ``problem SEP step1 SEP step2 SEP ...`` (format ``implicit``), the
reward of step ``t`` is::

    r^t = beta * sum_{tokens i of step t} [ log pi(y_i | y_<i) - log pi_ref(y_i | y_<i) ]

where the tokens of step ``t`` are its text *and* its separator (everything after the previous
step's separator), so the step rewards add up to the sequence reward ``r(y)``. The cumulative
value ``q^t = r^1 + ... + r^t`` is available with ``reduce="cumulative"``.

Reported score (``output``): ``"sigmoid"`` (default) gives ``sigmoid(r^t)`` in (0, 1), so the
canonical records and the 0.5 threshold of ProcessBench apply (a step with a positive log-ratio
scores above 0.5); ``"raw"`` gives ``r^t`` itself (unbounded: for library use and ``min``/``sum``
aggregation; the canonical JSONL ``scores`` field only accepts [0, 1]). ``coef`` multiplies the
reward before the sigmoid (the Implicit-PRM ProcessBench script uses ``sigmoid(coef * q^t)``).

Both models are run in one forward pass per batch each, on the same token ids (they must share
a tokenizer, as a policy and its reference always do).

``eurus-prm`` (:class:`EurusPRMScorer`) is the same read-out on EurusPRM's own layout and
positions (format ``eurus-prm``, :func:`prmkit.render._render_prefixes`): the chat template with
the steps joined by ``"\\n\\n"``, and step ``t`` summed over the token range its model card's code
sums. Its defaults are the card's: ``beta`` = the card's ``coef`` = 0.001 and
``reduce="cumulative"``, so ``output="raw"`` gives the card's ``beta_reward`` values exactly and the
default ``sigmoid`` gives ``sigmoid(q^t)``, what the authors' ProcessBench script thresholds.

Example (the D3 hand-checkable case, from per-token log-ratios):
    >>> step_rewards([0.5, 1.5, -2.0], [(0, 2), (2, 3)], beta=0.5)
    [1.0, -1.0]
    >>> step_rewards([0.5, 1.5, -2.0], [(0, 2), (2, 3)], beta=0.5, reduce="cumulative")
    [1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from transformers import AutoModelForCausalLM

from prmkit.aggregate import sigmoid
from prmkit.errors import PrmkitError
from prmkit.models.tokenizer import load_tokenizer
from prmkit.render import Rendered
from prmkit.scorers.base import SCORERS, StepScores, read_prmkit_json
from prmkit.scorers.engine import resolve_device, resolve_dtype
from prmkit.scorers.neural import (
    NeuralScorer,
    _from_pretrained,
    _gather_index,
    _pad,
    format_from_json,
    split_format_options,
)

Reduce = Literal["step", "cumulative"]
Output = Literal["sigmoid", "raw"]

#: beta of the official Implicit-PRM training scripts (D3)
DEFAULT_BETA = 0.05
#: ``coef`` of the EurusPRM-Stage1/2 model cards and of PRIME-RL/ImplicitPRM eval/processbench.py
EURUS_COEF = 0.001


def step_rewards(
    token_log_ratios: Sequence[float],
    spans: Sequence[tuple[int, int] | None],
    beta: float,
    reduce: Reduce = "step",
) -> list[float | None]:
    """Step rewards from per-token log-ratios: ``beta * sum`` over each ``[start, end)`` span.

    ``None`` spans (steps beyond the window) stay ``None``; with ``reduce="cumulative"`` the
    running sum ``q^t`` is returned (``None`` once a step is missing).
    """
    out: list[float | None] = []
    running = 0.0
    broken = False
    for sp in spans:
        if sp is None:
            out.append(None)
            broken = True
            continue
        r = beta * float(sum(token_log_ratios[sp[0] : sp[1]]))
        if reduce == "cumulative":
            running += r
            out.append(None if broken else running)
        else:
            out.append(r)
    return out


def reward_spans(r: Rendered) -> list[tuple[int, int] | None]:
    """Token range scored for each step: from after the previous step's tag (or from the step's
    own start, for the first) to the end of its own tag, inclusive.

    Example:
        >>> reward_spans(Rendered(list(range(9)), [4, 8], [(2, 4), (5, 8)]))
        [(2, 5), (5, 9)]
    """
    out: list[tuple[int, int] | None] = []
    prev_end: int | None = None
    for pos, span in zip(r.step_positions, r.step_spans, strict=True):
        if pos is None or span is None:
            out.append(None)
            continue
        start = span[0] if prev_end is None else prev_end
        out.append((max(start, 1), pos + 1))  # token 0 has no prediction
        prev_end = pos + 1
    return out


@SCORERS.register("implicit")
class ImplicitPRMScorer(NeuralScorer):
    """Implicit PRM from a trained policy ``model`` and its reference ``ref_model``.

    Args:
        model, ref_model: causal LMs sharing ``tokenizer``.
        beta: the KL coefficient the PRM was trained with (default 0.05, D3).
        reduce: ``step`` (``r^t``, default) or ``cumulative`` (``q^t``).
        output: ``sigmoid`` (default, in (0, 1)) or ``raw``.
        coef: multiplier applied before the sigmoid (default 1).
        Other options as :class:`~prmkit.scorers.neural.NeuralScorer`.
    """

    format_name = "implicit"
    head_names = ("lm_head",)
    #: appended to the "needs a reference model" error
    ref_hint: ClassVar[str] = ""
    #: ``beta`` and ``reduce`` when not given
    default_beta: ClassVar[float] = DEFAULT_BETA
    default_reduce: ClassVar[Reduce] = "step"

    def __init__(
        self,
        model: Any,
        ref_model: Any,
        tokenizer: Any,
        fmt: Any = None,
        *,
        beta: float | None = None,
        reduce: Reduce | None = None,
        output: Output = "sigmoid",
        coef: float = 1.0,
        row_chunk: int = 1024,
        **kwargs: Any,
    ) -> None:
        beta = self.default_beta if beta is None else beta
        reduce = self.default_reduce if reduce is None else reduce
        if reduce not in ("step", "cumulative"):
            raise PrmkitError(f"reduce must be 'step' or 'cumulative', got {reduce!r}")
        if output not in ("sigmoid", "raw"):
            raise PrmkitError(f"output must be 'sigmoid' or 'raw', got {output!r}")
        super().__init__(model, tokenizer, fmt, **kwargs)
        self.ref_model = ref_model.to(device=self.device, dtype=next(model.parameters()).dtype).eval()
        self.beta = float(beta)
        self.reduce: Reduce = reduce
        self.output: Output = output
        self.coef = float(coef)
        self.row_chunk = int(row_chunk)

    @classmethod
    def load(  # type: ignore[override]
        cls,
        path: str | Path | None,
        *,
        ref_model: str | Path | None = None,
        device: str | None = None,
        dtype: Any = None,
        batch_tokens: int | None = None,
        max_length: int | None = None,
        format: str | None = None,
        **options: Any,
    ) -> ImplicitPRMScorer:
        """Load the policy from ``path`` and the reference from ``ref_model`` (or the
        ``ref_model`` key of ``PATH/prmkit.json``, relative to ``path``); ``beta`` likewise."""
        if path is None:
            raise PrmkitError(f"scorer '{cls.format_name}' needs a model path (--prm PATH)")
        meta = read_prmkit_json(path) if Path(str(path)).is_dir() else None
        ref = ref_model if ref_model is not None else (meta or {}).get("ref_model")
        if ref is None:
            raise PrmkitError(
                "the implicit PRM needs a reference model: pass ref_model=PATH or write "
                "'ref_model' into prmkit.json" + cls.ref_hint,
                file=str(Path(str(path)) / "prmkit.json"),
                field="ref_model",
            )
        ref_path = Path(str(ref))
        if not ref_path.is_absolute() and (Path(str(path)) / ref_path).exists():
            ref_path = Path(str(path)) / ref_path
        fmt_opts, rest = split_format_options(options)
        fmt_opts = {**format_from_json(meta, cls.format_name), **fmt_opts}
        for key in ("beta", "coef", "reduce", "output"):
            if key not in rest and meta and key in meta:
                rest[key] = meta[key]
        dev = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, dev)
        model = _from_pretrained(AutoModelForCausalLM, path, torch_dtype)
        ref_lm = _from_pretrained(AutoModelForCausalLM, str(ref_path), torch_dtype)
        tokenizer = load_tokenizer(path)
        return cls(
            model,
            ref_lm,
            tokenizer,
            format or cls.format_name,
            device=dev,
            dtype=torch_dtype,
            batch_tokens=batch_tokens,
            max_length=max_length,
            meta=meta,
            **rest,
            **fmt_opts,
        )

    def _token_logprobs(self, model: Any, enc: dict[str, Any], rows: list[int], cols: list[int]) -> Any:
        """``log p(input_ids[b, c] | prefix)`` for each ``(b, c)`` (read at position ``c - 1``)."""
        body = getattr(model, getattr(model, "base_model_prefix", "model"))
        out = body(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            position_ids=enc["position_ids"],
            use_cache=False,
        )
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        head = model.get_output_embeddings()
        r = torch.tensor(rows, device=hidden.device)
        c = torch.tensor(cols, device=hidden.device)
        targets = enc["input_ids"][r, c]
        parts = []
        for s in range(0, len(rows), self.row_chunk):
            h = hidden[r[s : s + self.row_chunk], c[s : s + self.row_chunk] - 1]
            logp = head(h).float().log_softmax(-1)
            parts.append(logp.gather(-1, targets[s : s + self.row_chunk, None])[:, 0])
        return torch.cat(parts) if parts else torch.empty(0)

    def _forward(self, batch: Sequence[Rendered]) -> list[StepScores]:
        enc = _pad(batch, self.pad_id, self.padding_side, self.device)
        offsets = [int(enc["mask"].shape[1] - len(r)) if self.padding_side == "left" else 0 for r in batch]
        spans = [reward_spans(r) for r in batch]
        token_pos: list[list[int | None]] = []
        for b, sp in enumerate(spans):
            toks = sorted({i for s in sp if s is not None for i in range(s[0], s[1])})
            token_pos.append([t + offsets[b] for t in toks])
        rows, cols, owner = _gather_index(token_pos)
        with torch.inference_mode():
            lp = self._token_logprobs(self.model, enc, rows, cols)
            lp_ref = self._token_logprobs(self.ref_model, enc, rows, cols)
            self.forward_calls += 1
        ratio = (lp - lp_ref).double().cpu().tolist()
        per_sol: list[dict[int, float]] = [{} for _ in batch]
        for (b, _j), c, v in zip(owner, cols, ratio, strict=True):
            per_sol[b][c - offsets[b]] = v
        out: list[StepScores] = []
        for b, sp in enumerate(spans):
            dense = [per_sol[b].get(i, 0.0) for i in range(len(batch[b]))]
            rewards = step_rewards(dense, sp, self.beta, self.reduce)
            out.append([self._report(x) for x in rewards])
        return out

    def _report(self, x: float | None) -> float | None:
        if x is None:
            return None
        return sigmoid(self.coef * x) if self.output == "sigmoid" else x


@SCORERS.register("eurus-prm")
class EurusPRMScorer(ImplicitPRMScorer):
    """EurusPRM-Stage1/2 (PRIME implicit PRM) with its reference model, on its model card's
    layout and read-out (format ``eurus-prm``).

    The card's ``beta_reward`` for step ``t`` is ``q^t = coef * sum`` of the per-token log-ratios
    from its ``step_last_tokens[0]`` to the position of step ``t`` (``reduce="cumulative"``,
    ``output="raw"``); ``reduce="step"`` gives ``r^t = q^t - q^{t-1}``. The default reported score
    is ``sigmoid(q^t)``. ``beta`` here is the card's ``coef`` (default 0.001); ``coef`` stays
    prmkit's extra multiplier before the sigmoid (default 1). The reference model of the card is
    ``Qwen/Qwen2.5-Math-7B-Instruct`` (``ref_model=``). Other options as
    :class:`ImplicitPRMScorer`.
    """

    format_name = "eurus-prm"
    ref_hint = " (the EurusPRM card uses ref_model=Qwen/Qwen2.5-Math-7B-Instruct)"
    default_beta = EURUS_COEF
    default_reduce = "cumulative"
