"""verl custom reward function backed by a prmkit reward server (``prmkit serve``).

verl loads this file by path and calls ``compute_score(data_source, solution_str, ground_truth,
extra_info, **reward_kwargs)`` once per response. Put the problem text in
``extra_info["question"]`` when you build the parquet (the PRM scores steps against it).
See verl_grpo.sh for the full command and docs/rl.md.
"""

from prmkit.rl.adapters.verl import compute_score  # noqa: F401  (the name verl looks up)
