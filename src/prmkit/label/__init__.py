"""Step labelling from policy rollouts: labellers (registry :data:`LABELLERS`) and a resumable runner.

Labellers: ``mc`` (Math-Shepherd Monte Carlo, hard/soft, optional early stop), ``binary``
(OmegaPRM binary search for the first error, optional tree selection), ``q-target`` (AgentPRM's
discounted Q per state-action, for agent trajectories), ``adaptive`` (sequential
test per step), ``judge`` (judge scorer), ``consensus`` (two labellers must agree on the first
error). SCAN denoising lives in :mod:`prmkit.label.denoise`. The runner
(:func:`run_labelling`, ``prmkit label``) writes append-only shards and resumes after a kill.

Example:
    >>> sorted(LABELLERS.names())
    ['adaptive', 'binary', 'consensus', 'judge', 'mc', 'q-target']
"""

from __future__ import annotations

from prmkit.label import adaptive, binary, judge, mc, qtarget  # noqa: F401 - register the labellers
from prmkit.label.base import LABELLERS, LabelContext, Labeller, LabelOutcome, Rollouts, make_labeller
from prmkit.label.denoise import apply_scan, scan_tolerance_labels
from prmkit.label.qtarget import pool_q_targets
from prmkit.label.runner import LabelConfig, read_labelled, run_labelling, summarize

__all__ = [
    "LABELLERS",
    "LabelConfig",
    "LabelContext",
    "LabelOutcome",
    "Labeller",
    "Rollouts",
    "apply_scan",
    "make_labeller",
    "pool_q_targets",
    "read_labelled",
    "run_labelling",
    "scan_tolerance_labels",
    "summarize",
]
