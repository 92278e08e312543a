"""verl adapters: a custom ``compute_score`` reward function and a token-level reward manager.

1. ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs)``,
   the signature of verl's ``custom_reward_function`` (verl calls it once per response and
   passes ``custom_reward_function.reward_kwargs`` as keyword arguments). Returns a dict:
   ``score`` (what verl uses as the reward) = ``outcome_weight * o + process_weight * P`` with
   ``o`` the verifiable outcome and ``P`` the aggregated process score; ``process``, ``outcome``
   and ``acc`` are logged by verl as extra reward info. Point verl at this file::

       custom_reward_function.path=$(python -c "import prmkit.rl.adapters.verl as m; print(m.__file__)")
       custom_reward_function.name=compute_score
       +custom_reward_function.reward_kwargs.reward_url=http://127.0.0.1:8000

   (or at ``examples/rl/verl_reward.py``). :func:`make_compute_score` builds the same function
   around an in-process scorer.

2. :class:`PrmkitRewardManager`: verl's reward-manager interface
   (``__init__(tokenizer, num_examine, compute_score=None, reward_fn_key="data_source", ...)``,
   ``__call__(data, return_dict=False)``) returning a ``[B, response_length]`` reward tensor with
   each step's (credit-transformed) process reward on the step's last token and the outcome
   reward on the last response token, for token-level advantage estimators.

verl is not imported here: ``data`` only needs ``batch["prompts"]``, ``batch["responses"]``,
``batch["attention_mask"]`` and ``non_tensor_batch`` (``reward_model``, ``data_source``,
``extra_info``), as in ``verl.DataProto``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from prmkit.errors import PrmkitError
from prmkit.rl.adapters.common import aggregate, as_step_score_fn, outcome_reward, split_response
from prmkit.rl.align import step_token_ends
from prmkit.rl.credit import credit_step_rewards

_PROBLEM_KEYS = ("problem", "question", "query", "prompt")


def _problem_of(extra_info: Any, fallback: str | None = None) -> str:
    if isinstance(extra_info, dict):
        for k in _PROBLEM_KEYS:
            v = extra_info.get(k)
            if isinstance(v, str) and v:
                return v
    if fallback is not None:
        return fallback
    raise PrmkitError(
        "verl extra_info has no problem text (put the question in extra_info['question'] when "
        "preparing the parquet; the PRM scores steps against it)",
        field="extra_info",
    )


def make_compute_score(
    scorer: Any,
    *,
    steps_preset: str = "\n\n",
    aggregation: str = "min",
    process_weight: float = 1.0,
    outcome_weight: float = 1.0,
    missing: float = 0.0,
) -> Callable[..., dict[str, float]]:
    """A verl ``compute_score`` around an in-process scorer (or Client / URL).

    Example:
        >>> cs = make_compute_score(lambda ps, ss: [[1.0, 0.5][: len(s)] for s in ss], steps_preset="\\n")
        >>> cs("arith", "2 + 3 = 5\\nThe answer is 5.", "5", {"question": "2+3?"})
        {'score': 1.5, 'process': 0.5, 'outcome': 1.0, 'acc': 1.0}
    """
    score_fn = as_step_score_fn(scorer)

    def compute_score(
        data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None, **_: Any
    ) -> dict[str, float]:
        problem = _problem_of(extra_info)
        steps = split_response(solution_str, steps_preset)
        proc = aggregate(score_fn([problem], [steps])[0], aggregation, missing)
        o = outcome_reward(solution_str, ground_truth)
        return {"score": outcome_weight * o + process_weight * proc, "process": proc, "outcome": o, "acc": o}

    return compute_score


_CACHE: dict[tuple, Callable[..., dict[str, float]]] = {}


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    *,
    reward_url: str | None = None,
    steps_preset: str | None = None,
    aggregation: str | None = None,
    process_weight: float | None = None,
    outcome_weight: float | None = None,
    **_: Any,
) -> dict[str, float]:
    """verl entry point backed by a ``prmkit serve`` reward server.

    Settings come from keyword arguments (verl's ``custom_reward_function.reward_kwargs``) or
    environment variables ``PRMKIT_REWARD_URL`` (default ``http://127.0.0.1:8000``),
    ``PRMKIT_STEPS_PRESET`` (``\\n\\n``), ``PRMKIT_AGGREGATION`` (``min``),
    ``PRMKIT_PROCESS_WEIGHT`` (1.0), ``PRMKIT_OUTCOME_WEIGHT`` (1.0).
    """
    key = (
        reward_url or os.environ.get("PRMKIT_REWARD_URL", "http://127.0.0.1:8000"),
        steps_preset or os.environ.get("PRMKIT_STEPS_PRESET", "\n\n"),
        aggregation or os.environ.get("PRMKIT_AGGREGATION", "min"),
        float(process_weight if process_weight is not None else os.environ.get("PRMKIT_PROCESS_WEIGHT", 1.0)),
        float(outcome_weight if outcome_weight is not None else os.environ.get("PRMKIT_OUTCOME_WEIGHT", 1.0)),
    )
    fn = _CACHE.get(key)
    if fn is None:  # one HTTP client per worker process and setting
        fn = _CACHE[key] = make_compute_score(
            key[0], steps_preset=key[1], aggregation=key[2], process_weight=key[3], outcome_weight=key[4]
        )
    return fn(data_source, solution_str, ground_truth, extra_info)


class PrmkitRewardManager:
    """verl reward manager with per-token process rewards (see the module docstring).

    ``credit``: ``"soft-min"`` (PURE, default), ``"exact-min"`` or ``"sum"`` (see
    :func:`prmkit.rl.credit.credit_step_rewards`); step scores ``p`` are mapped to
    ``process_scale * (2p - 1)`` when ``signed`` (PURE's ``p(+) - p(-)``), else used as they are.
    The outcome reward (``outcome_weight * 1[answer correct]``) goes on the last response token.
    """

    def __init__(
        self,
        tokenizer: Any,
        num_examine: int = 0,
        compute_score: Any = None,
        reward_fn_key: str = "data_source",
        *,
        scorer: Any = None,
        steps_preset: str = "\n\n",
        credit: str = "soft-min",
        temperature: float = 0.1,
        signed: bool = True,
        process_scale: float = 1.0,
        outcome_weight: float = 1.0,
        missing: float = 0.0,
        **_: Any,
    ) -> None:
        self.tokenizer = tokenizer
        self.num_examine = num_examine
        self.reward_fn_key = reward_fn_key
        src = scorer if scorer is not None else os.environ.get("PRMKIT_REWARD_URL", "http://127.0.0.1:8000")
        self.score_fn = as_step_score_fn(src)
        self.steps_preset = steps_preset
        self.credit = credit
        self.temperature = temperature
        self.signed = signed
        self.process_scale = process_scale
        self.outcome_weight = outcome_weight
        self.missing = missing

    def __call__(self, data: Any, return_dict: bool = False) -> Any:
        prompts = data.batch["prompts"]
        responses = data.batch["responses"]
        attn = data.batch["attention_mask"]
        p_len = prompts.shape[-1]
        reward = torch.zeros(responses.shape, dtype=torch.float32)
        ntb = data.non_tensor_batch
        problems, all_steps, all_ends, texts, valid_lens = [], [], [], [], []
        for i in range(responses.shape[0]):
            n_valid = int(attn[i, p_len:].sum())
            ids = responses[i, :n_valid].tolist()
            body = [
                t for t in ids if t not in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
            ] or ids
            steps, ends = step_token_ends(
                body or [self.tokenizer.pad_token_id], self.tokenizer, self.steps_preset
            )
            prompt_ids = prompts[i][attn[i, :p_len].bool()].tolist()
            prompt_text = self.tokenizer.decode(prompt_ids, skip_special_tokens=True)
            extra = ntb.get("extra_info", [None] * responses.shape[0])[i] if "extra_info" in ntb else None
            problems.append(_problem_of(extra, fallback=prompt_text))
            all_steps.append(steps)
            all_ends.append(ends)
            texts.append(self.tokenizer.decode(body, skip_special_tokens=True))
            valid_lens.append(n_valid)
        scores = self.score_fn(problems, all_steps)
        process_rows, outcomes = [], []
        for i, row in enumerate(scores):
            vals = [self.missing if v is None else float(v) for v in row]
            vals = [self.process_scale * (2 * v - 1) if self.signed else self.process_scale * v for v in vals]
            shaped = credit_step_rewards([vals], self.credit, temperature=self.temperature)[0]
            for e, v in zip(all_ends[i], shaped, strict=True):
                reward[i, e] += float(v)
            gt = None
            if "reward_model" in ntb:
                rm = ntb["reward_model"][i]
                gt = rm.get("ground_truth") if isinstance(rm, dict) else None
            o = outcome_reward(texts[i], gt) if gt is not None else 0.0
            if valid_lens[i] > 0:
                reward[i, valid_lens[i] - 1] += self.outcome_weight * o
            process_rows.append(vals)
            outcomes.append(o)
        if return_dict:
            return {
                "reward_tensor": reward,
                "reward_extra_info": {"acc": outcomes, "process_min": [min(r) for r in process_rows]},
            }
        return reward
