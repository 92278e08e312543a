"""prmkit.rl: process rewards in reinforcement learning.

- :mod:`prmkit.rl.credit`: pure batched credit assignment (numpy or torch): sum-form,
  PURE min-form (exact and soft-min), PRIME implicit rewards + RLOO, hybrid GRPO, TDRM targets.
- :mod:`prmkit.rl.align`: where each step ends in the token sequence.
- :mod:`prmkit.rl.adapters`: verl, OpenRLHF and TRL reward functions.
- the embedded-default experiment (tiny policy, arithmetic world) is a research script:
  ``benchmarks/rl_credit_experiment.py``.

See docs/rl.md. Nothing heavy is imported by ``import prmkit.rl``.

Example:
    >>> from prmkit.rl.credit import min_form_returns
    >>> min_form_returns([[1.0, -1.0, 1.0]]).tolist()
    [[-1.0, -1.0, 1.0]]
"""
