"""Cost-based batch planning: deterministic (cost constants injected, never timed), plus
padded-vs-unpadded score parity on a tiny model."""

from __future__ import annotations

import random
import time

import pytest

from prmkit.scorers.engine import BatchPolicy, CostModel, measure_cost, plan_batches, plan_batches_by_cost

#: per-forward overhead dominates (a tiny model: ~1 ms of Python per forward, ~nothing per token)
OVERHEAD_BOUND = CostModel(overhead_s=1e-3, token_s=1e-8)
#: compute dominates (a ~135M model on a CPU: ~2 ms per token, a few ms per forward)
COMPUTE_BOUND = CostModel(overhead_s=5e-3, token_s=2e-3)


def _total(cost: CostModel, lengths: list[int], batches: list[list[int]]) -> float:
    return sum(cost.forward_s(len(b), max(lengths[i] for i in b)) for b in batches)


def _valid(lengths: list[int], batches: list[list[int]]) -> None:
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)


def test_overhead_bound_profile_pads():
    lengths = [120, 37, 80, 64, 100, 12]
    batches = plan_batches_by_cost(lengths, OVERHEAD_BOUND, batch_tokens=2048)
    _valid(lengths, batches)
    assert batches == [[0, 4, 2, 3, 1, 5]]  # one padded forward


def test_compute_bound_profile_never_pads_but_groups_equal_lengths():
    lengths = [120, 37, 80, 120, 100, 12, 80]
    batches = plan_batches_by_cost(lengths, COMPUTE_BOUND, batch_tokens=2048)
    _valid(lengths, batches)
    for b in batches:
        assert len({lengths[i] for i in b}) == 1  # no padding
    assert [0, 3] in batches and [2, 6] in batches
    # and it is never predicted slower than one solution per forward
    one = [[i] for i in range(len(lengths))]
    assert _total(COMPUTE_BOUND, lengths, batches) <= _total(COMPUTE_BOUND, lengths, one)


def test_padding_only_when_the_saved_overhead_pays_for_the_pad_tokens():
    cost = CostModel(overhead_s=1.0, token_s=0.1, pad_margin=0.0)  # one forward = 10 pad tokens
    assert plan_batches_by_cost([100, 95], cost) == [[0, 1]]  # 5 pad tokens < overhead
    assert plan_batches_by_cost([100, 85], cost) == [[0], [1]]  # 15 pad tokens > overhead
    slow_batches = CostModel(overhead_s=1.0, token_s=0.1, batch_factor=2.0)
    assert plan_batches_by_cost([100, 100], slow_batches) == [[0], [1]]
    # the margin: padding that saves less than 20% of the batch's time is not worth the risk
    careful = CostModel(overhead_s=1.0, token_s=0.1)
    assert plan_batches_by_cost([100, 99], careful) == [[0], [1]]  # saves 0.9 of 21
    assert plan_batches_by_cost([100, 100], careful) == [[0, 1]]  # equal lengths: no pad, no margin
    assert plan_batches_by_cost([10, 9], careful) == [[0, 1]]  # saves 0.9 of 3


def test_cost_plan_is_optimal_and_respects_budget_and_rows():
    rng = random.Random(0)
    for _ in range(30):
        lengths = [rng.randint(1, 300) for _i in range(rng.randint(1, 40))]
        cost = CostModel(
            overhead_s=rng.choice([1e-4, 1e-3, 1e-2]), token_s=1e-5, attention_s=1e-8, pad_margin=0.0
        )
        batches = plan_batches_by_cost(lengths, cost, batch_tokens=1024, max_rows=6)
        _valid(lengths, batches)
        for b in batches:
            assert len(b) <= 6
            assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 1024
        best = _total(cost, lengths, batches)
        # never worse than the fixed-knob plans it replaces
        for pad in (0.0, 0.1, 1.0):
            other = plan_batches(lengths, 1024, pad, max_rows=6)
            assert best <= _total(cost, lengths, other) + 1e-12


def test_policy_auto_on_cpu_and_explicit_settings_win():
    auto = BatchPolicy.for_device("cpu")
    assert auto.auto
    lengths = [100, 60, 30]
    assert auto.plan(lengths, OVERHEAD_BOUND) == [[0, 1, 2]]
    assert auto.plan(lengths) == [[0], [1], [2]]  # no cost model: the fixed CPU knobs
    fixed = BatchPolicy.for_device("cpu", max_pad_fraction=0.0)
    assert not fixed.auto and fixed.plan(lengths, OVERHEAD_BOUND) == [[0], [1], [2]]
    budget = BatchPolicy.for_device("cpu", batch_tokens=150, max_pad_fraction=1.0)
    assert budget.plan(lengths, COMPUTE_BOUND) == [[0], [1, 2]]
    assert not BatchPolicy.for_device("cuda").auto
    # two forwards of at most 2 rows; the shorter pair wastes fewer pad tokens
    assert BatchPolicy.for_device("cpu", max_rows=2).plan(lengths, OVERHEAD_BOUND) == [[0], [1, 2]]


def test_measure_cost_fits_a_fake_forward(monkeypatch: pytest.MonkeyPatch):
    # a deterministic fake clock: the "forward" advances it by its modelled time; only the engine
    # module sees it (the process-wide time.perf_counter is left alone)
    import types

    import prmkit.scorers.engine as engine

    clock = {"t": 0.0}

    def fake_forward(rows: list[int]) -> None:
        f = 1.0 if len(rows) == 1 else 1.5
        clock["t"] += 2e-3 + f * len(rows) * (1e-5 * max(rows) + 1e-8 * max(rows) ** 2)

    real = time.perf_counter
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=lambda: clock["t"]))
    c = measure_cost(fake_forward)
    assert time.perf_counter is real
    assert c.overhead_s == pytest.approx(2e-3, rel=1e-6)
    assert c.token_s == pytest.approx(1e-5, rel=1e-6)
    assert c.attention_s == pytest.approx(1e-8, rel=1e-6)
    assert c.batch_factor == pytest.approx(1.5, rel=1e-6)


# ---------------------------------------------------------------------- tiny model parity


@pytest.fixture(scope="module")
def tiny():
    from prmkit.models.tiny import build_tiny_model, train_tokenizer

    texts = ["Tom has 3 apples and buys 4 more. 3 + 4 = 7. The answer is 7."] * 4
    tok = train_tokenizer(texts, vocab_size=200)
    model = build_tiny_model("token-classification", tok, hidden_size=32, num_layers=2, num_heads=2, seed=1)
    return model, tok


PROBLEMS = ["What is 3 + 4?", "Ann reads 12 pages a day for 5 days. How many pages?", "1+1?"] * 3
STEPS = [["3 + 4 = 7.", "The answer is 7."], ["12 x 5 = 60.", "So 60 pages.", "The answer is 60."], ["2"]] * 3


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_cost_plan_scores_equal_unpadded(tiny, side):
    from prmkit.scorers.neural import TokenClassificationScorer

    model, tok = tiny
    one = TokenClassificationScorer(model, tok, batch_tokens=1)
    padded = TokenClassificationScorer(model, tok, padding_side=side, batch_cost=OVERHEAD_BOUND)
    assert padded.policy.auto
    ref = one.score_batch(PROBLEMS, STEPS)
    got = padded.score_batch(PROBLEMS, STEPS)
    assert padded.forward_calls == 1 and one.forward_calls == len(PROBLEMS)  # really padded together
    for a, b in zip(ref, got, strict=True):
        assert len(a) == len(b)
        assert all(abs(x - y) <= 1e-5 for x, y in zip(a, b, strict=True))


def test_scorer_measures_its_cost_model_once(tiny, monkeypatch: pytest.MonkeyPatch):
    import prmkit.scorers.neural as neural
    from prmkit.scorers.neural import TokenClassificationScorer

    calls = []
    real = neural.measure_cost
    monkeypatch.setattr(neural, "measure_cost", lambda *a, **k: calls.append(1) or real(*a, **k))
    model, tok = tiny
    s = TokenClassificationScorer(model, tok)
    s.score_batch(PROBLEMS[:1], STEPS[:1])
    assert s.batch_cost is None and not calls  # one solution: nothing to plan, nothing measured
    s.score_batch(PROBLEMS, STEPS)
    c = s.cost_model()
    s.score_batch(PROBLEMS, STEPS)
    assert s.cost_model() is c is s.batch_cost and len(calls) == 1  # measured once, then reused
    assert s.forward_calls <= 1 + len(PROBLEMS)  # calibration forwards are not counted


def test_mask_dropped_only_for_right_padding_on_causal_models(tiny):
    from transformers import BertConfig, BertForTokenClassification

    from prmkit.render import Rendered
    from prmkit.scorers.neural import _is_causal, _pad

    model, _ = tiny
    bert = BertForTokenClassification(
        BertConfig(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=50
        )
    )
    assert _is_causal(model) and not _is_causal(bert)
    batch = [Rendered([5, 6, 7], [2], [(0, 3)]), Rendered([5], [0], [(0, 1)])]
    right = _pad(batch, 0, "right", "cpu", causal=True)
    assert right["attention_mask"] is None and right["position_ids"].tolist() == [[0, 1, 2], [0, 1, 2]]
    assert _pad(batch, 0, "right", "cpu", causal=False)["attention_mask"] is not None
    left = _pad(batch, 0, "left", "cpu", causal=True)
    assert left["attention_mask"] is not None and left["position_ids"].tolist() == [[0, 1, 2], [0, 0, 0]]


def test_batch_factor_is_measured_only_when_a_plan_would_pad(tiny):
    from dataclasses import replace

    from prmkit.scorers.neural import TokenClassificationScorer

    model, tok = tiny
    # compute-bound single-row costs: no plan pads, so the padded-batch factor is never timed
    big = TokenClassificationScorer(model, tok, batch_cost=replace(COMPUTE_BOUND, batch_measured=False))
    big.score_batch(PROBLEMS, STEPS)
    assert not big.batch_cost.batch_measured
    # overhead-bound: the first plan pads, so the factor is measured (then the plan is redone)
    small = TokenClassificationScorer(model, tok, batch_cost=replace(OVERHEAD_BOUND, batch_measured=False))
    small.score_batch(PROBLEMS, STEPS)
    assert small.batch_cost.batch_measured and small.batch_cost.batch_factor >= 1.0
    assert small.batch_cost.overhead_s == OVERHEAD_BOUND.overhead_s
