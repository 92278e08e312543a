"""OpenAI-compatible policy backend (vLLM, SGLang, llama.cpp, hosted APIs).

The HTTP client, :class:`~prmkit.clients.openai_compat.OpenAIClient`, lives in
:mod:`prmkit.clients.openai_compat` (re-exported here). It wraps the ``openai`` SDK (the ``openai``
extra), which owns the transport, timeouts, retries, backoff and ``Retry-After``; the wrapper
adds a concurrency limit (a thread pool) and token-usage / retry counters for cost accounting.
The judge scorer (:mod:`prmkit.scorers.judge`) uses the same client.

:class:`OpenAIPolicy` (registered as ``"openai"``) continues step prefixes through the
``/completions`` API (default: the prompt is rendered client side, so the prefix really is the
start of the assistant turn) or the ``/chat/completions`` API (the prefix is sent as a trailing
assistant message with vLLM's ``continue_final_message``). ``max_steps=1`` sends the step
separator as a ``stop`` string. ``n`` samples go in one request; when the server returns fewer
choices (llama.cpp ignores ``n``) the rest are requested one by one with their own seeds.

Example (not run: needs a server)::

    from prmkit.policies import load_policy
    pol = load_policy("openai", base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-Math-7B-Instruct",
                      max_tokens=512, temperature=0.8, max_concurrency=32)
    gens = pol.continue_from(problems, prefixes, n=8, max_steps=1, seed=0)
    pol.client.usage  # {'requests': ..., 'prompt_tokens': ..., 'completion_tokens': ..., 'retries': ...}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import AutoTokenizer

from prmkit.clients.openai_compat import (  # noqa: F401 - the client's names, re-exported
    RETRY_STATUSES,
    OpenAIClient,
    choice_text,
    client_for,
    normalize_base_url,
)
from prmkit.errors import PrmkitError
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
    chat_messages,
    derive_seed,
    render_chatml,
    render_plain,
    render_with_tokenizer,
    request_key,
    to_generation,
)
from prmkit.records import Problem


def stop_reason_of(choice: dict[str, Any], stops: Sequence[str]) -> str:
    """``"eos"``, ``"stop"`` (a step separator) or ``"length"`` for a choice.

    vLLM reports the matched stop string in ``stop_reason`` (None for EOS) and SGLang in
    ``matched_stop``; other servers (llama.cpp) say only ``finish_reason="stop"``, which is then
    read as the separator when stop strings were sent and the text is not empty.

    Example:
        >>> stop_reason_of({"finish_reason": "stop", "stop_reason": None, "text": "x"}, ["\\n\\n"])
        'eos'
        >>> stop_reason_of({"finish_reason": "stop", "text": "x"}, ["\\n\\n"])
        'stop'
        >>> stop_reason_of({"finish_reason": "length", "text": "x"}, [])
        'length'
    """
    fr = choice.get("finish_reason")
    if fr == "length":
        return "length"
    for key in ("stop_reason", "matched_stop"):
        if key in choice:
            return "stop" if choice[key] in stops else "eos"
    if stops and choice_text(choice).strip():
        return "stop"
    return "eos"


def split_tokens(total: int, texts: Sequence[str]) -> list[int]:
    """Share a response's ``completion_tokens`` among its choices, proportional to text length.

    Example:
        >>> split_tokens(10, ["aaaa", "a"]), split_tokens(5, ["x"])
        ([8, 2], [5])
    """
    if len(texts) == 1:
        return [total]
    lens = [max(1, len(t)) for t in texts]
    s = sum(lens)
    parts = [total * x // s for x in lens]
    for i in range(total - sum(parts)):
        parts[i % len(parts)] += 1
    return parts


@POLICIES.register("openai")
class OpenAIPolicy(BatchedPolicy):
    """Step generation through an OpenAI-compatible server.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1`` (vLLM ``vllm serve``), ``http://127.0.0.1:30000/v1``
            (SGLang), ``http://127.0.0.1:8080/v1`` (llama.cpp). Default ``$OPENAI_BASE_URL``.
        model: model name sent to the server (default: the first one it lists).
        api: ``"completions"`` (default; prompt rendered here) or ``"chat"``.
        prompt_format: for ``api="completions"``: ``"chatml"`` (default), ``"plain"`` or ``"hf"``
            (render with the chat template of the Hugging Face ``tokenizer`` given).
        temperature, top_p, max_tokens, step_max_tokens (budget per step when ``max_steps`` is set:
        a call gets ``min(max_tokens, step_max_tokens * max_steps)``).
        send_n: send ``n`` in one request (True) or always one request per sample (False: each
            sample then has its own seed, independent of ``n``).
        pass_seed: send the per-request seed (servers that reject ``seed`` need False).
        extra_body: extra JSON fields for every request (e.g. ``{"top_k": 20}``).
        api_key, timeout, max_retries, max_concurrency: see :class:`OpenAIClient`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        api: str = "completions",
        prompt_format: str = "chatml",
        tokenizer: str | None = None,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 512,
        step_max_tokens: int | None = None,
        separator: str = "\n\n",
        instruction: str = DEFAULT_INSTRUCTION,
        system: str | None = None,
        send_n: bool = True,
        pass_seed: bool = True,
        final_answer_ends: bool = True,
        extra_body: dict[str, Any] | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        max_concurrency: int = 8,
        client: OpenAIClient | None = None,
    ) -> None:
        if api not in ("completions", "chat"):
            raise PrmkitError(f"api must be 'completions' or 'chat', not {api!r}", field="api")
        if prompt_format not in ("chatml", "plain", "hf"):
            raise PrmkitError(f"unknown prompt_format {prompt_format!r}", field="prompt_format")
        if prompt_format == "hf" and api == "completions" and not tokenizer:
            raise PrmkitError("prompt_format='hf' needs tokenizer=PATH_OR_ID", field="tokenizer")
        self.client = client_for(
            client,
            base_url,
            who="the openai policy",
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
        )
        self._model = model
        self.api = api
        self.prompt_format = prompt_format
        self._tokenizer_src = tokenizer
        self._tokenizer: Any = None
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.step_max_tokens = step_max_tokens
        self.step_separator = separator
        self.instruction = instruction
        self.system = system
        self.send_n = send_n
        self.pass_seed = pass_seed
        self.final_answer_ends = final_answer_ends
        self.extra_body = dict(extra_body or {})
        #: a search advances this many problems together by default (requests fill the slots)
        self.preferred_batch_problems = max(8, 2 * max_concurrency)

    @property
    def model(self) -> str:
        """The model name (asked from the server once when not given)."""
        if self._model is None:
            self._model = self.client.first_model()
        return self._model

    def prompt(self, problem: Problem | str, prefix: Sequence[str] = ()) -> str:
        """Prompt text for the completions API."""
        sep, ins = self.step_separator, self.instruction
        if self.prompt_format == "plain":
            return render_plain(problem, prefix, sep, ins)
        if self.prompt_format == "hf":
            if self._tokenizer is None:
                self._tokenizer = AutoTokenizer.from_pretrained(self._tokenizer_src)
            return render_with_tokenizer(self._tokenizer, problem, prefix, sep, ins, self.system)
        return render_chatml(problem, prefix, sep, ins)

    def _payload(
        self, problem: Problem, prefix: Sequence[str], n: int, seed: int, stops: list[str], budget: int
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": budget,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": n,
        }
        if self.pass_seed:
            body["seed"] = seed
        if stops:
            body["stop"] = stops
        if self.api == "chat":
            body["messages"] = chat_messages(
                problem, prefix, self.step_separator, self.instruction, self.system
            )
            if prefix:  # vLLM / SGLang: continue the trailing assistant message instead of a new turn
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
        else:
            body["prompt"] = self.prompt(problem, prefix)
        body.update(self.extra_body)
        return body

    def continue_batch(self, requests: Sequence[ContinueRequest]) -> list[list[Generation]]:
        """Every request in flight together (up to ``max_concurrency``), whatever its problem,
        ``n``, ``max_steps`` or seed."""
        for r in requests:
            check_continue_args([r.problem], [list(r.prefix)], r.n, r.max_steps)
        path = "chat/completions" if self.api == "chat" else "completions"
        _ = self.model  # resolve once, before the threads start

        def one(r: ContinueRequest) -> list[Generation]:
            problem, prefix, n, max_steps = r.problem, list(r.prefix), r.n, r.max_steps
            # stop strings only help when we want exactly one step; otherwise cut after the fact
            stops = [self.step_separator] if max_steps == 1 else []
            budget = token_budget(self.max_tokens, self.step_max_tokens, max_steps)
            key = request_key(problem, prefix)
            # 31-bit: some servers keep the seed in a uint32 / int32
            seeds = [derive_seed(r.seed, *key, j) & 0x7FFFFFFF for j in range(n)]
            gens: list[Generation] = []
            first = n if self.send_n else 1
            while len(gens) < n:
                j = len(gens)
                want = first if j == 0 else 1
                body = self.client.post(path, self._payload(problem, prefix, want, seeds[j], stops, budget))
                choices = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))[: n - j]
                if not choices:
                    raise PrmkitError(f"{self.client.base_url}/{path}: response has no choices")
                texts = [choice_text(c) for c in choices]
                total = int((body.get("usage") or {}).get("completion_tokens") or 0)
                for c, text, ntok in zip(choices, texts, split_tokens(total, texts), strict=True):
                    gens.append(
                        to_generation(
                            text,
                            separator=self.step_separator,
                            max_steps=max_steps,
                            stop_reason=stop_reason_of(c, stops),
                            num_tokens=ntok,
                            final_answer_ends=self.final_answer_ends,
                            meta={"seed": seeds[len(gens)], "finish_reason": c.get("finish_reason")},
                        )
                    )
            return gens

        return self.client.map(one, list(requests), "generating")

    def close(self) -> None:
        self.client.close()
