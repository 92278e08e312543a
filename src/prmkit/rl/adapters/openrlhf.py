"""OpenRLHF adapters: the remote reward endpoint and an in-process ``reward_func`` file.

**Remote endpoint.** ``prmkit serve`` answers OpenRLHF's remote reward-model protocol on
``POST /get_reward``: OpenRLHF's ``remote_rm_fn`` posts ``{"query": [prompt + response, ...],
"prompts": [prompt, ...], "labels": [label, ...]}`` and reads ``"rewards"`` (one float per
query: the aggregated process score; ``step_rewards`` carries the per-step scores)::

    prmkit serve --prm runs/prm --host 0.0.0.0 --port 8000 --aggregation min --steps-preset $'\\n\\n'
    python -m openrlhf.cli.train_ppo_ray ... --remote_rm_url http://HOST:8000/get_reward

:func:`remote_rm_request` builds exactly that payload (used by the tests).

**In-process.** OpenRLHF also accepts a Python file as ``--remote_rm_url``; it imports
``reward_func(queries, prompts, labels)`` from it and expects ``{"rewards": tensor, "scores":
tensor, "extra_logs": {...}}``. :func:`make_reward_func` builds one around any prmkit scorer,
optionally adding the verifiable outcome (``labels`` = reference answers); see
``examples/rl/openrlhf_reward_func.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from prmkit.errors import PrmkitError
from prmkit.rl.adapters.common import aggregate, as_step_score_fn, outcome_reward, split_response


def remote_rm_request(
    queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]
) -> dict[str, Any]:
    """The JSON body OpenRLHF's ``remote_rm_fn`` posts to ``--remote_rm_url``.

    Example:
        >>> remote_rm_request(["Q\\nA"], ["Q\\n"], ["A"])
        {'query': ['Q\\nA'], 'prompts': ['Q\\n'], 'labels': ['A']}
    """
    return {"query": list(queries), "prompts": list(prompts), "labels": list(labels)}


def make_reward_func(
    scorer: Any,
    *,
    steps_preset: str = "\n\n",
    aggregation: str = "min",
    process_weight: float = 1.0,
    outcome_weight: float = 0.0,
    prompt_to_problem: Callable[[str], str] | None = None,
    missing: float = 0.0,
) -> Callable[[Sequence[str], Sequence[str], Sequence[Any]], dict[str, Any]]:
    """``reward_func(queries, prompts, labels)`` for OpenRLHF's ``--remote_rm_url file.py``.

    The response is the query after its prompt; the PRM sees ``prompt_to_problem(prompt)``
    (default: the prompt as is). Reward = ``process_weight * P + outcome_weight * o``.

    Example:
        >>> f = make_reward_func(lambda ps, ss: [[0.5] * len(s) for s in ss], outcome_weight=1.0)
        >>> out = f(["Q: 2+2?\\nThe answer is 4."], ["Q: 2+2?\\n"], ["4"])
        >>> out["rewards"].tolist(), out["extra_logs"]["outcome"].tolist()
        ([1.5], [1.0])
    """
    score = as_step_score_fn(scorer)

    def reward_func(
        queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] | None = None, **_: Any
    ) -> dict[str, Any]:
        if len(queries) != len(prompts):
            raise PrmkitError(f"{len(queries)} queries for {len(prompts)} prompts", field="prompts")
        problems, steps, responses = [], [], []
        for i, (q, p) in enumerate(zip(queries, prompts, strict=True)):
            if not q.startswith(p):
                raise PrmkitError(f"query {i} does not start with its prompt", field="query")
            resp = q[len(p) :]
            problems.append(prompt_to_problem(p) if prompt_to_problem else p)
            steps.append(split_response(resp, steps_preset))
            responses.append(resp)
        proc = [aggregate(s, aggregation, missing) for s in score(problems, steps)]
        labs = list(labels) if labels is not None else [None] * len(queries)
        outc = [outcome_reward(r, g) if g is not None else 0.0 for r, g in zip(responses, labs, strict=True)]
        rewards = [process_weight * p + outcome_weight * o for p, o in zip(proc, outc, strict=True)]
        return {
            "rewards": torch.tensor(rewards, dtype=torch.float32),
            "scores": torch.tensor(rewards, dtype=torch.float32),
            "extra_logs": {"process": torch.tensor(proc), "outcome": torch.tensor(outc)},
        }

    return reward_func
