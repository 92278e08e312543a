"""vLLM engine options reach ``vllm.LLM`` unchanged, for the policy and for the scorer, from the
library and from the command-line ``KEY=VALUE`` options (issue #23, item 4).

Runs on any machine: a stand-in ``vllm`` module records what ``LLM(...)`` was built with (the
real engine needs a CUDA GPU; ``tests/test_policy_vllm.py`` / ``tests/test_score_vllm.py`` hold
the GPU runs, skipped with the reason where vllm or a GPU is missing).
"""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from prmkit.cli.parser import parse_key_values

#: the four options of the issue, as a user writes them on the command line
CLI = ["tensor_parallel_size=2", "data_parallel_size=2", "gpu_memory_utilization=0.45",
       "enable_prefix_caching=false"]  # fmt: skip
EXPECTED = {
    "tensor_parallel_size": 2,
    "data_parallel_size": 2,
    "gpu_memory_utilization": 0.45,
    "enable_prefix_caching": False,
}


class _Tok:
    chat_template = "chatml"

    def apply_chat_template(self, msgs, tokenize, add_generation_prompt):
        return "".join(m["content"] for m in msgs)


@pytest.fixture
def fake_vllm(monkeypatch):
    """``vllm.LLM`` / ``SamplingParams`` / ``config.PoolerConfig`` stand-ins; ``built`` holds
    the keyword arguments of every ``LLM(...)``. The GPU checks of both backends are bypassed."""
    built: list[dict] = []

    class LLM:
        def __init__(self, **kw):
            built.append(kw)

        def get_tokenizer(self):
            return _Tok()

    mod = types.ModuleType("vllm")
    mod.LLM = LLM
    mod.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    config = types.ModuleType("vllm.config")
    config.PoolerConfig = lambda **kw: SimpleNamespace(**kw)
    mod.config = config
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.setitem(sys.modules, "vllm.config", config)
    monkeypatch.setattr("prmkit.policies.vllm.vllm_unavailable_reason", lambda: None)
    monkeypatch.setattr("prmkit.scorers.vllm.vllm_available", lambda: None)
    return built


def test_cli_values_are_typed():
    # the parsing of --policy-opt / --scorer-opt / -o into these dicts: tests/test_cli_contract.py
    assert parse_key_values(CLI, "--policy-opt") == EXPECTED


def test_policy_passes_the_engine_options(fake_vllm):
    from prmkit.policies import load_policy

    pol = load_policy("vllm", model="some/model", **parse_key_values(CLI, "--policy-opt"))
    assert fake_vllm[-1] == {"model": "some/model", **EXPECTED}
    assert pol.preferred_batch_problems == 64
    # prefix caching is on unless asked otherwise: beam search re-sends each problem's prompt and
    # every kept prefix with each expansion, and vLLM then reuses their KV cache
    load_policy("vllm", model="some/model")
    assert fake_vllm[-1] == {"model": "some/model", "enable_prefix_caching": True}


def test_scorer_passes_the_engine_options(fake_vllm, tmp_path):
    from prmkit.models.tiny import train_tokenizer
    from prmkit.scorers import load_scorer

    tok = train_tokenizer(["What is 3 + 4? 3 + 4 = 7. The answer is 7 - 0."] * 5, vocab_size=300)
    tok.save_pretrained(str(tmp_path))
    # prmkit score --format vllm --prm DIR -o render_format=token-classification -o K=V ...
    opts = parse_key_values(["render_format=token-classification", "max_length=128", *CLI], "--option")
    scorer = load_scorer("vllm", str(tmp_path), **opts)
    kw = fake_vllm[-1]
    assert {k: kw[k] for k in EXPECTED} == EXPECTED
    assert kw["runner"] == "pooling" and kw["max_model_len"] == 128 and "pooler_config" in kw
    assert scorer.engine_kwargs == {k: v for k, v in kw.items() if k != "pooler_config"}
    # the scorer leaves prefix caching to vLLM's default for pooling models unless asked
    load_scorer("vllm", str(tmp_path), render_format="token-classification", max_length=128)
    assert "enable_prefix_caching" not in fake_vllm[-1] and fake_vllm[-1]["tensor_parallel_size"] == 1
