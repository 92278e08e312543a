"""vLLM in-process policy (GPU; optional extra ``prmkit[vllm]``).

Same prompts and step handling as the other backends (:mod:`prmkit.policies.text`): the
tokenizer's chat template with the prefix as the start of the assistant turn, ``max_steps=1``
as a ``stop`` string, ``n`` samples per request with ``SamplingParams(n, seed)``. vLLM reports
which stop string ended a sample (``stop_reason``), so EOS and step boundaries are told apart
exactly; ``num_tokens`` is the length of each sample's ``token_ids``.

Example (not run: needs a GPU and ``pip install vllm``)::

    from prmkit.policies import load_policy
    pol = load_policy("vllm", model="Qwen/Qwen2.5-Math-1.5B-Instruct", temperature=0.8,
                      max_tokens=1024, gpu_memory_utilization=0.5)
    gens = pol.continue_from(problems, prefixes, n=16, max_steps=1, seed=0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from prmkit.errors import PrmkitError
from prmkit.policies.base import POLICIES, BatchedPolicy, ContinueRequest, Generation, check_continue_args
from prmkit.policies.text import (
    DEFAULT_INSTRUCTION,
    render_with_tokenizer,
    request_key,
    to_generation,
)
from prmkit.records import Problem
from prmkit.runs import derive_seed


def vllm_unavailable_reason() -> str | None:
    """Why the vLLM backend cannot run here (``None`` when it can).

    Example:
        >>> isinstance(vllm_unavailable_reason(), (str, type(None)))
        True
    """
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install 'prmkit[vllm]')"
    if not torch.cuda.is_available():
        return "vLLM needs a CUDA GPU and none is visible"
    return None


@POLICIES.register("vllm")
class VLLMPolicy(BatchedPolicy):
    """A model served by an in-process ``vllm.LLM``.

    Args:
        model: hub id or local dir (anything ``vllm.LLM`` accepts); or pass ``llm=`` a built LLM.
        temperature, top_p, top_k, max_tokens, step_max_tokens: sampling and budgets.
        separator, instruction, system: prompt and step format (see :mod:`prmkit.policies.text`).
        per_sample_seeds: one request per sample with its own derived seed (outputs then do not
            depend on ``n``); default one request with ``n`` and a per-request seed.
        **llm_options: passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``dtype``,
            ``tensor_parallel_size``, ``max_model_len``, ``enable_prefix_caching``, ...).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        llm: Any = None,
        temperature: float = 0.7,
        top_p: float = 1.0,
        top_k: int = -1,
        max_tokens: int = 1024,
        step_max_tokens: int | None = None,
        separator: str = "\n\n",
        instruction: str = DEFAULT_INSTRUCTION,
        system: str | None = None,
        per_sample_seeds: bool = False,
        final_answer_ends: bool = True,
        **llm_options: Any,
    ) -> None:
        if llm is None:
            reason = vllm_unavailable_reason()
            if reason:
                raise PrmkitError(reason, field="policy")
            if not model:
                raise PrmkitError("the vllm policy needs model=HUB_ID_OR_DIR", field="model")
            from vllm import LLM

            llm_options.setdefault("enable_prefix_caching", True)  # prefixes share long prompts
            llm = LLM(model=model, **llm_options)
        self.llm = llm
        self.tokenizer = llm.get_tokenizer()
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.max_tokens = max_tokens
        self.step_max_tokens = step_max_tokens
        self.step_separator = separator
        self.instruction = instruction
        self.system = system
        self.per_sample_seeds = per_sample_seeds
        self.final_answer_ends = final_answer_ends
        #: a search advances this many problems together by default (the engine schedules the rows)
        self.preferred_batch_problems = 64

    def prompt(self, problem: Problem | str, prefix: Sequence[str] = ()) -> str:
        """The exact prompt text for a (problem, prefix) pair."""
        return render_with_tokenizer(
            self.tokenizer, problem, prefix, self.step_separator, self.instruction, self.system
        )

    def continue_batch(self, requests: Sequence[ContinueRequest]) -> list[list[Generation]]:
        """One ``LLM.generate`` for every request (each with its own sampling parameters)."""
        from vllm import SamplingParams

        templated = bool(getattr(self.tokenizer, "chat_template", None))
        prompts: list[dict[str, list[int]]] = []
        params: list[Any] = []
        owners: list[int] = []  # request index of each vLLM prompt
        for i, r in enumerate(requests):
            check_continue_args([r.problem], [list(r.prefix)], r.n, r.max_steps)
            stops = [self.step_separator] if r.max_steps == 1 else []
            budget = (
                self.step_max_tokens
                if (r.max_steps is not None and self.step_max_tokens)
                else self.max_tokens
            )
            # token ids, not text: vLLM would add special tokens again to a chat-templated prompt
            # (a second BOS with Llama-3, Mistral and Gemma templates), as the hf policy avoids too
            ids = self.tokenizer.encode(self.prompt(r.problem, r.prefix), add_special_tokens=not templated)
            key = request_key(r.problem, r.prefix)
            per = (
                [(1, derive_seed(r.seed, *key, j)) for j in range(r.n)]
                if self.per_sample_seeds
                else [(r.n, derive_seed(r.seed, *key, 0))]
            )
            for k, s in per:
                prompts.append({"prompt_token_ids": ids})
                owners.append(i)
                params.append(
                    SamplingParams(
                        n=k,
                        temperature=self.temperature,
                        top_p=self.top_p,
                        top_k=self.top_k,
                        max_tokens=budget,
                        stop=stops or None,
                        seed=s,
                    )
                )
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        result: list[list[Generation]] = [[] for _ in requests]
        for owner, out in zip(owners, outputs, strict=True):
            max_steps = requests[owner].max_steps
            stops = [self.step_separator] if max_steps == 1 else []
            for c in out.outputs:
                if c.finish_reason == "length":
                    reason = "length"
                elif c.stop_reason is not None and c.stop_reason in stops:
                    reason = "stop"
                else:
                    reason = "eos"
                result[owner].append(
                    to_generation(
                        c.text,
                        separator=self.step_separator,
                        max_steps=max_steps,
                        stop_reason=reason,
                        num_tokens=len(c.token_ids),
                        final_answer_ends=self.final_answer_ends,
                        meta={"finish_reason": c.finish_reason},
                    )
                )
        return result

    def close(self) -> None:
        """Drop the engine (frees GPU memory once nothing else holds it)."""
        self.llm = None
