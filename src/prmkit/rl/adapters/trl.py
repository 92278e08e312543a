"""TRL ``GRPOTrainer`` reward functions (sequence level).

TRL calls every reward function as ``reward_func(prompts=..., completions=...,
completion_ids=..., **dataset_columns, trainer_state=..., ...)`` and wants one float per
completion. Prompts/completions are strings (standard datasets) or lists of chat messages
(conversational datasets); both are handled.

- :func:`make_process_reward_func`: the aggregated process score (``min`` of the step scores by
  default) of each completion from any prmkit step scorer (Scorer, Client, URL).
- :func:`make_outcome_reward_func`: the verifiable reward ``1[final answer == dataset answer]``.

Combine them with TRL's own ``reward_weights`` (e.g. ``[1.0, 0.5]``): TRL sums the weighted
rewards and applies GRPO group normalisation, i.e. the hybrid rule of
:func:`prmkit.rl.credit.hybrid_advantages`. Token-level credit (PURE min-form, PRIME) is not
expressible through this interface: use :mod:`prmkit.rl.credit` in a custom loop or verl.

Example:
    >>> f = make_process_reward_func(lambda ps, ss: [[0.9, 0.2][: len(s)] for s in ss], steps_preset="\\n")
    >>> f(prompts=["1+1?"], completions=["1+1=2\\nThe answer is 2."])
    [0.2]
    >>> f(prompts=[[{"role": "user", "content": "1+1?"}]],
    ...   completions=[[{"role": "assistant", "content": "The answer is 2."}]])
    [0.9]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prmkit.errors import PrmkitError
from prmkit.rl.adapters.common import (
    aggregate,
    as_step_score_fn,
    message_text,
    outcome_reward,
    split_response,
)

RewardFunc = Callable[..., list[float]]


def _problem_texts(
    prompts: Sequence[Any],
    kwargs: dict[str, Any],
    problem_key: str | None,
    prompt_to_problem: Callable[[str], str] | None,
) -> list[str]:
    if problem_key and problem_key in kwargs:
        col = kwargs[problem_key]
        if len(col) != len(prompts):
            raise PrmkitError(
                f"column {problem_key!r} has {len(col)} values for {len(prompts)} prompts", field=problem_key
            )
        return [str(x) for x in col]
    texts = [message_text(p, role="user") for p in prompts]
    return [prompt_to_problem(t) for t in texts] if prompt_to_problem else texts


def make_process_reward_func(
    scorer: Any,
    *,
    steps_preset: str = "\n\n",
    aggregation: str = "min",
    problem_key: str | None = "problem",
    prompt_to_problem: Callable[[str], str] | None = None,
    missing: float = 0.0,
    name: str = "prmkit_process",
) -> RewardFunc:
    """A TRL reward function: aggregated PRM score of each completion.

    ``problem_key``: dataset column holding the problem text the PRM should see (used when
    present, else the prompt, the last user message for conversational prompts, optionally
    mapped by ``prompt_to_problem``). ``missing``: reward when no step could be scored.
    """
    score = as_step_score_fn(scorer)

    def reward_func(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        if len(prompts) != len(completions):
            raise PrmkitError(
                f"{len(prompts)} prompts for {len(completions)} completions", field="completions"
            )
        problems = _problem_texts(prompts, kwargs, problem_key, prompt_to_problem)
        steps = [split_response(message_text(c, role="assistant"), steps_preset) for c in completions]
        out = score(problems, steps)
        return [aggregate(s, aggregation, missing) for s in out]

    reward_func.__name__ = name
    return reward_func


def make_outcome_reward_func(answer_key: str = "answer", *, name: str = "prmkit_outcome") -> RewardFunc:
    """A TRL reward function: 1.0 when the completion's final answer equals column ``answer_key``.

    Example:
        >>> f = make_outcome_reward_func()
        >>> f(prompts=["q", "q"], completions=["The answer is 3.", "The answer is 4."], answer=["3", "3"])
        [1.0, 0.0]
    """

    def reward_func(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        if answer_key not in kwargs:
            raise PrmkitError(
                f"the dataset has no {answer_key!r} column for the outcome reward", field=answer_key
            )
        answers = kwargs[answer_key]
        return [
            outcome_reward(message_text(c, role="assistant"), a)
            for c, a in zip(completions, answers, strict=True)
        ]

    reward_func.__name__ = name
    return reward_func
