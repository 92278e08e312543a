"""Adapters that plug prmkit process rewards into RL engines (no engine is imported here).

- :mod:`prmkit.rl.adapters.verl`: ``compute_score(data_source, solution_str, ground_truth,
  extra_info)`` custom reward functions and :class:`~prmkit.rl.adapters.verl.PrmkitRewardManager`
  (per-token reward tensors).
- :mod:`prmkit.rl.adapters.openrlhf`: ``reward_func(queries, prompts, labels)`` for
  ``--remote_rm_url reward_func.py``; the HTTP endpoint is ``prmkit serve`` (``/get_reward``).
- :mod:`prmkit.rl.adapters.trl`: ``reward_func(prompts, completions, **kwargs)`` for TRL's
  ``GRPOTrainer`` (sequence level: aggregated process score; plus a verifiable outcome reward).

All of them take a *step scorer*: a :class:`~prmkit.scorers.base.Scorer`, a
:class:`~prmkit.serve.Client`, a reward-server URL (``"http://host:port"``) or any
``(problems, steps) -> step scores`` callable.
"""
