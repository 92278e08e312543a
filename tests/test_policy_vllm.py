"""vLLM in-process policy. The GPU run skips with a reason when vllm or a CUDA GPU is absent; the
output handling is tested everywhere with a stand-in engine that returns vLLM-shaped outputs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from prmkit.errors import PrmkitError
from prmkit.policies import POLICIES, load_policy
from prmkit.policies.vllm import VLLMPolicy, vllm_unavailable_reason
from prmkit.records import Problem

P = [Problem(id="a", question="What is 2+3?"), Problem(id="b", question="What is 4*5?")]


class FakeTokenizer:
    chat_template = "chatml"

    def apply_chat_template(self, msgs, tokenize, add_generation_prompt):
        # like Llama-3's template: the rendered text starts with the BOS token itself
        return "<s>" + "".join(f"<|{m['role']}|>{m['content']}" for m in msgs) + "<|assistant|>"

    def encode(self, text, add_special_tokens=True):
        """One id per character; ``add_special_tokens`` prepends BOS (id 1) as a real tokenizer does."""
        return ([1] if add_special_tokens else []) + [ord(c) for c in text]

    def decode(self, ids):
        return "".join("<s>" if i == 1 else chr(i) for i in ids)


class FakeLLM:
    """Records calls; answers like vllm.LLM.generate (RequestOutput.outputs[CompletionOutput])."""

    def __init__(self):
        self.calls = []

    def get_tokenizer(self):
        return FakeTokenizer()

    def generate(self, prompts, params, use_tqdm=False):
        self.calls.append((prompts, params))
        outs = []
        for prompt, sp in zip(prompts, params, strict=True):
            comps = []
            for j in range(sp.n):
                if sp.stop:
                    comps.append(SimpleNamespace(text=f"step {j}", token_ids=[1, 2], finish_reason="stop",
                                                 stop_reason=sp.stop[0]))  # fmt: skip
                else:
                    comps.append(SimpleNamespace(text="x\n\nThe answer is 5", token_ids=[1, 2, 3],
                                                 finish_reason="stop", stop_reason=None))  # fmt: skip
            outs.append(SimpleNamespace(prompt=prompt, outputs=comps))
        return outs


@pytest.fixture
def sampling_params(monkeypatch):
    """A stand-in ``vllm.SamplingParams`` when vllm is not installed."""
    import sys
    import types

    if "vllm" in sys.modules or __import__("importlib").util.find_spec("vllm"):
        return
    mod = types.ModuleType("vllm")
    mod.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", mod)


def test_registered_and_clear_error_without_gpu():
    assert "vllm" in POLICIES
    reason = vllm_unavailable_reason()
    if reason is not None:
        with pytest.raises(PrmkitError, match="vllm|CUDA"):
            load_policy("vllm", model="some/model")


def test_output_handling_with_stand_in_engine(sampling_params):
    llm = FakeLLM()
    pol = VLLMPolicy(llm=llm, temperature=0.8, max_tokens=99)
    gens = pol.continue_from(P, [[], ["2+3=5"]], n=3, max_steps=1, seed=4)
    prompts, params = llm.calls[0]
    texts = [FakeTokenizer().decode(p["prompt_token_ids"]) for p in prompts]
    assert len(texts) == 2 and texts[1].endswith("<|assistant|>2+3=5\n\n")
    # token ids are sent, with the template's BOS only: no second BOS added by the engine
    assert all(t.startswith("<s><|") and t.count("<s>") == 1 for t in texts)
    assert params[0].n == 3 and params[0].stop == ["\n\n"] and params[0].max_tokens == 99
    assert params[0].seed != params[1].seed
    assert [[g.steps for g in r] for r in gens] == [[["step 0"], ["step 1"], ["step 2"]]] * 2
    assert all(
        g.meta["stop_reason"] == "stop" and not g.finished and g.num_tokens == 2 for r in gens for g in r
    )
    full = pol.continue_from(P[:1], [[]], n=1)[0][0]
    assert full.steps == ["x", "The answer is 5"] and full.finished and full.meta["stop_reason"] == "eos"
    per = VLLMPolicy(llm=FakeLLM(), per_sample_seeds=True)
    per.continue_from(P[:1], [[]], n=2)
    assert [sp.n for sp in per.llm.calls[0][1]] == [1, 1]


@pytest.mark.skipif(vllm_unavailable_reason() is not None, reason=str(vllm_unavailable_reason()))
def test_vllm_real_gpu(tmp_path):
    from prmkit.models.gguf import smollm2_available, smollm2_gguf_path

    if not smollm2_available():
        pytest.skip("SmolLM2 GGUF not installed")
    from prmkit.models.gguf import gguf_cache_dir, load_gguf_causal_lm

    load_gguf_causal_lm(smollm2_gguf_path())  # writes the HF copy vLLM can load
    pol = load_policy("vllm", model=str(gguf_cache_dir(smollm2_gguf_path())), max_tokens=32,
                      gpu_memory_utilization=0.3, enforce_eager=True)  # fmt: skip
    a = pol.continue_from(P, [[], []], n=2, max_steps=1, seed=1)
    b = pol.continue_from(P, [[], []], n=2, max_steps=1, seed=1)
    assert [[g.steps for g in r] for r in a] == [[g.steps for g in r] for r in b]
    assert all(0 < g.num_tokens <= 32 and len(g.steps) <= 1 for r in a for g in r)
