"""Python client of the reward server, and a reward-function adapter for RL frameworks.

Example::

    from prmkit.serve import Client
    c = Client("http://127.0.0.1:8000")
    c.score([{"problem": "1+1?", "steps": ["1+1=2", "The answer is 2."]}])
    # -> [{"step_scores": [0.98, 0.97], "score": 0.97, "aggregation": "min"}]
    reward_fn = c.reward_fn(steps_preset="\\n\\n")
    reward_fn(["1+1?"], ["1+1=2\\n\\nThe answer is 2."])   # -> [[0.98, 0.97]]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from prmkit.errors import PrmkitError


class Client:
    """A small synchronous client (httpx) with retries on 429/503 honouring ``Retry-After``.

    ``api_key`` (default: the ``PRMKIT_API_KEY`` environment variable) is sent as
    ``Authorization: Bearer KEY`` to a server started with ``--api-key``.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        timeout: float = 60.0,
        retries: int = 5,
        api_key: str | None = None,
    ) -> None:
        import os

        import httpx

        self.base_url = base_url.rstrip("/")
        self.retries = retries
        key = api_key if api_key is not None else os.environ.get("PRMKIT_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            r = self._http.post(path, json=payload)
            if r.status_code in (429, 503) and attempt < self.retries:
                time.sleep(float(r.headers.get("Retry-After", "1")) * (1 + attempt) * 0.5)
                continue
            if r.status_code != 200:
                try:
                    msg = r.json().get("error", r.text)
                except ValueError:
                    msg = r.text
                raise PrmkitError(f"reward server answered {r.status_code}: {msg}", file=self.base_url + path)
            return r.json()
        raise PrmkitError("reward server kept answering 429", file=self.base_url + path)  # pragma: no cover

    def score(
        self, solutions: Sequence[dict[str, Any]], aggregation: str | list[str] | None = None
    ) -> list[dict]:
        """Score ``[{"problem": str, "steps": [str]}]``; returns one result per solution."""
        payload: dict[str, Any] = {"solutions": list(solutions)}
        if aggregation is not None:
            payload["aggregation"] = aggregation
        return self._post("/v1/score", payload)["results"]

    def step_scores(self, problems: Sequence[str], steps: Sequence[list[str]]) -> list[list[float | None]]:
        """Just the per-step scores (same shape as ``Scorer.score_batch``)."""
        res = self.score([{"problem": p, "steps": s} for p, s in zip(problems, steps, strict=True)])
        return [r["step_scores"] for r in res]

    def get_reward(self, queries: Sequence[str], prompts: Sequence[str] | None = None) -> dict[str, Any]:
        """OpenRLHF's protocol: ``{"rewards": [...], "step_rewards": [[...]]}``."""
        payload: dict[str, Any] = {"query": list(queries)}
        if prompts is not None:
            payload["prompts"] = list(prompts)
        return self._post("/get_reward", payload)

    def health(self) -> dict[str, Any]:
        return self._http.get("/health").json()

    def reward_fn(
        self, steps_preset: str = "\n\n"
    ) -> Callable[[Sequence[str], Sequence[str]], list[list[float]]]:
        """A ``(prompts, completions) -> per-step rewards`` callable for RL frameworks."""
        return make_reward_fn(self.step_scores, steps_preset=steps_preset)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_reward_fn(
    score: Callable[[Sequence[str], Sequence[list[str]]], list[list[float | None]]] | Any,
    steps_preset: str = "\n\n",
    missing: float = 0.0,
) -> Callable[[Sequence[str], Sequence[str]], list[list[float]]]:
    """Adapt a scorer (``Scorer``, ``Client`` or a ``score_batch``-like callable) to
    ``(prompts, completions) -> list[list[float]]`` (one reward per step of each completion).

    Steps are cut with ``steps_preset``; a step that could not be scored gets ``missing``.

    Example:
        >>> fn = make_reward_fn(lambda ps, ss: [[0.5] * len(s) for s in ss])
        >>> fn(["1+1?"], ["1+1=2\\n\\nThe answer is 2."])
        [[0.5, 0.5]]
    """
    from prmkit.steps import split_steps

    if hasattr(score, "score_batch"):
        score = score.score_batch
    elif hasattr(score, "step_scores"):
        score = score.step_scores

    def reward_fn(prompts: Sequence[str], completions: Sequence[str]) -> list[list[float]]:
        if len(prompts) != len(completions):
            raise PrmkitError(f"{len(prompts)} prompts for {len(completions)} completions")
        steps = [split_steps(c, steps_preset) or [c] for c in completions]
        out = score(list(prompts), steps)
        return [[missing if v is None else float(v) for v in row] for row in out]

    return reward_fn
