"""Token-budget batching policy."""

from __future__ import annotations

import random

from prmkit.scorers.engine import BatchPolicy, plan_batches, resolve_dtype


def test_every_index_once_and_budget_respected():
    rng = random.Random(0)
    lengths = [rng.randint(1, 500) for _ in range(200)]
    for budget, pad in ((1, 0.0), (600, 0.02), (4096, 0.1), (10**6, 1.0)):
        batches = plan_batches(lengths, budget, pad)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(len(lengths)))
        for b in batches:
            longest = max(lengths[i] for i in b)
            assert len(b) == 1 or len(b) * longest <= budget
            assert all(lengths[i] >= (1 - pad) * longest for i in b)
            assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)


def test_budget_one_means_one_per_forward():
    assert plan_batches([3, 3, 3], batch_tokens=1) == [[0], [1], [2]]


def test_equal_lengths_are_batched_on_cpu_defaults():
    p = BatchPolicy.for_device("cpu")
    batches = plan_batches([100] * 10 + [50], p.batch_tokens, p.max_pad_fraction)
    assert batches[0] == list(range(10)) and batches[1] == [10]


def test_cpu_defaults_never_pad_much_gpu_defaults_do():
    cpu, gpu = BatchPolicy.for_device("cpu"), BatchPolicy.for_device("cuda:0")
    assert cpu.max_pad_fraction <= 0.05 and gpu.max_pad_fraction == 1.0
    assert gpu.batch_tokens > cpu.batch_tokens
    assert plan_batches([100, 60], gpu.batch_tokens, gpu.max_pad_fraction) == [[0, 1]]
    assert plan_batches([100, 60], cpu.batch_tokens, cpu.max_pad_fraction) == [[0], [1]]


def test_max_rows():
    assert plan_batches([5] * 5, 1000, 1.0, max_rows=2) == [[0, 1], [2, 3], [4]]


def test_dtype_names():
    import torch

    assert resolve_dtype("bf16", "cuda") is torch.bfloat16
    assert resolve_dtype(None, "cuda") is torch.bfloat16
    assert resolve_dtype("auto", "cpu") is torch.float32
