"""Aggregation (docs/methods.md#b1-step-aggregation, docs/methods.md#b2-answer-rules): hand-checkable examples and None handling."""

from __future__ import annotations

import pytest

from prmkit.aggregate import (
    ANSWER_RULES,
    STEP_AGGREGATIONS,
    aggregate_steps,
    choose_answer,
    choose_index,
    sigmoid,
)
from prmkit.errors import PrmkitError


@pytest.mark.parametrize(
    "rule,expected",
    [
        ("min", 0.6),
        ("prod", 0.432),
        ("last", 0.8),
        ("mean", 0.7667),
        ("geometric", 0.7560),
        ("max", 0.9),
        ("first", 0.9),
        ("sum", 2.3),
    ],
)
def test_b1_step_aggregations(rule: str, expected: float) -> None:
    assert aggregate_steps([0.9, 0.6, 0.8], rule) == pytest.approx(expected, abs=1e-3)


def test_registry_lists_all_rules() -> None:
    assert {"min", "prod", "last", "mean", "geometric"} <= set(STEP_AGGREGATIONS.names())
    assert {"best_of_n", "majority", "weighted_vote", "hmrv", "wrfv"} <= set(ANSWER_RULES.names())
    with pytest.raises(PrmkitError, match="unknown step aggregation 'median'"):
        aggregate_steps([0.5], "median")


def test_none_scores_skip_substitute_error() -> None:
    assert aggregate_steps([0.9, None, 0.8], "min") == 0.8
    assert aggregate_steps([0.9, 0.7, None], "last") == 0.7  # last *scored* step
    assert aggregate_steps([0.9, None], "min", none=0.0) == 0.0
    with pytest.raises(PrmkitError, match="step 1 has no score"):
        aggregate_steps([0.9, None], "min", none="error")
    with pytest.raises(PrmkitError, match="no scored step"):
        aggregate_steps([None, None], "mean")


def test_geometric_clips_zero() -> None:
    assert aggregate_steps([0.0, 1.0], "geometric") == pytest.approx(1e-6)


def test_b2_answer_rules() -> None:
    a, r = ["A", "A", "A", "B"], [0.3, 0.4, 0.5, 0.9]
    assert choose_answer(a, None, "majority") == "A"
    assert choose_answer(a, r, "best_of_n") == "B"
    assert choose_answer(a, r, "weighted_vote") == "A"  # 1.2 vs 0.9
    assert choose_answer(a, r, "hmrv", tau=0.5) == "A"
    assert choose_answer(a, r, "hmrv", tau=0.8) == "B"
    assert choose_answer(a, r, "wrfv", w=0.5) == "A"  # 0.5289 vs 0.4712
    # with w=1 WRFV only looks at the normalised mean reward -> B
    assert choose_answer(a, r, "wrfv", w=1.0) == "B"


def test_a3_bon_example_and_ties() -> None:
    assert choose_answer(["A", "A", "B"], [0.2, 0.3, 0.9], "best_of_n") == "B"
    assert choose_index(["A", "B", "C"], [0.5, 0.5, 0.1], "best_of_n") == 0  # ties -> first
    assert choose_answer(["B", "A", "A", "B"], None, "majority") == "B"  # tie -> first group
    # representative of the chosen group is its best-scored member
    assert choose_index(["A", "B", "A"], [0.1, 0.3, 0.2], "majority") == 2


def test_answers_none_and_keys() -> None:
    assert choose_answer([None, "A"], [0.9, 0.1], "best_of_n") == "A"
    assert choose_answer([None, None], [0.9, 0.1], "majority") is None
    assert choose_answer([" 4", "4 ", "5"], None, "majority") == " 4"
    assert choose_answer(["x", "X", "y"], None, "majority", key=str.lower) == "x"
    with pytest.raises(PrmkitError, match="needs solution scores"):
        choose_answer(["A"], None, "best_of_n")
    with pytest.raises(PrmkitError, match="2 answers but 1"):
        choose_answer(["A", "B"], [0.1], "best_of_n")


def test_sigmoid_is_stable() -> None:
    assert sigmoid(1000.0) == 1.0
    assert sigmoid(-1000.0) == 0.0
    assert sigmoid(0.0) == 0.5
