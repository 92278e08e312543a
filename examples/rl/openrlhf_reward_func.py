"""OpenRLHF ``--remote_rm_url openrlhf_reward_func.py``: in-process prmkit process + outcome reward.

OpenRLHF imports ``reward_func(queries, prompts, labels)`` from this file. The scorer is a
prmkit reward server by default (PRMKIT_REWARD_URL); replace ``_SCORER`` with any in-process
scorer, e.g. ``load_scorer("token-classification", "runs/prm")``.
"""

import os

from prmkit.rl.adapters.openrlhf import make_reward_func

_SCORER = os.environ.get("PRMKIT_REWARD_URL", "http://127.0.0.1:8000")

reward_func = make_reward_func(
    _SCORER,
    steps_preset=os.environ.get("PRMKIT_STEPS_PRESET", "\n\n"),
    aggregation="min",
    process_weight=float(os.environ.get("PRMKIT_PROCESS_WEIGHT", 0.5)),
    outcome_weight=float(os.environ.get("PRMKIT_OUTCOME_WEIGHT", 1.0)),  # labels = reference answers
)
