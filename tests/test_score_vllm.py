"""vLLM scoring: the pooled-row mapping runs everywhere; the engine test needs vLLM and a GPU."""

from __future__ import annotations

import functools
import importlib.util
import json

import pytest

from prmkit.render import Rendered, get_format
from prmkit.scorers.vllm import rows_to_step_scores, vllm_available


def test_step_pooling_rows_map_by_tag_occurrence():
    # the step text itself contains the tag token (id 9) once: 3 occurrences, 2 steps
    r = Rendered([1, 9, 4, 9, 5, 9], [3, 5], [(0, 2), (4, 5)])
    rows = [[0.5, 0.5], [0.3, 0.7], [0.9, 0.1]]
    assert rows_to_step_scores(rows, r, get_format("qwen-prm"), tag_id=9) == [0.7, 0.1]


def test_all_pooling_rows_read_at_positions_token_pair():
    r = Rendered([1, 2, 3, 4], [1, 3], [(0, 1), (2, 3)])
    rows = [[0.0, 0.0], [0.8, 0.2], [0.0, 0.0], [0.25, 0.75]]
    assert rows_to_step_scores(rows, r, get_format("lm-token-pair"), tag_id=None, read="token-pair") == [
        0.8,
        0.25,
    ]


def test_truncated_step_stays_none_and_mismatch_is_an_error():
    from prmkit.errors import PrmkitError

    r = Rendered([1, 9, 4], [1, None], [(0, 1), None], truncated=1)
    assert rows_to_step_scores([[0.4, 0.6]], r, get_format("qwen-prm"), tag_id=9) == [0.6, None]
    with pytest.raises(PrmkitError):
        rows_to_step_scores([[0.4, 0.6], [0.1, 0.9]], r, get_format("qwen-prm"), tag_id=9)


@functools.lru_cache(maxsize=1)
def _tok():
    from prmkit.models.tiny import train_tokenizer

    return train_tokenizer(["What is 3 + 4? 3 + 4 = 7. The answer is 7 - 0."] * 5, vocab_size=300)


def test_dtype_names_are_mapped_to_vllms():
    from prmkit.errors import PrmkitError
    from prmkit.scorers.vllm import vllm_dtype

    assert [vllm_dtype(d) for d in ("bf16", "fp16", "fp32", "auto", None)] == [
        "bfloat16",
        "float16",
        "float32",
        "auto",
        "auto",
    ]
    with pytest.raises(PrmkitError, match="unknown dtype 'int8'"):
        vllm_dtype("int8")


def test_engine_config_per_family_one_construction():
    """What each family asks vLLM for (expected values written by hand)."""
    from prmkit.scorers.vllm import engine_config

    tok = _tok()
    plus, minus = (
        tok("+", add_special_tokens=False)["input_ids"][0],
        tok("-", add_special_tokens=False)["input_ids"][0],
    )
    extra0 = tok.convert_tokens_to_ids("<extra_0>")  # an added special token of the tiny tokenizer
    kw, pool = engine_config(
        get_format("qwen-prm"), tok, "m", dtype="bf16", max_model_len=1024, batch_tokens=256
    )
    assert kw == {
        "model": "m",
        "runner": "pooling",
        "dtype": "bfloat16",
        "gpu_memory_utilization": 0.85,
        "tensor_parallel_size": 1,
        "max_model_len": 1024,
        "max_num_batched_tokens": 1024,  # raised: token pooling disables chunked prefill
    }
    assert pool == {"pooling_type": "STEP", "step_tag_id": extra0}
    for name in ("lm-token-pair", "chat-turn"):  # whole-string tag / no tag: ALL pooling
        kw, pool = engine_config(get_format(name), tok, "m", max_model_len=512)
        assert pool == {"pooling_type": "ALL"}
        assert kw["convert"] == "classify" and kw["dtype"] == "auto"
        assert kw["hf_overrides"]["method"] == "from_2_way_softmax"
        # [false, true] as vocabulary strings, which vLLM maps back with convert_tokens_to_ids
        assert tok.convert_tokens_to_ids(kw["hf_overrides"]["classifier_from_token"]) == [minus, plus]
    kw, pool = engine_config(get_format("token-classification"), tok, "m", max_model_len=64)
    newline = tok("\n", add_special_tokens=False)["input_ids"]  # pieces formats insert these ids
    assert len(newline) == 1 and "convert" not in kw
    assert pool == {"pooling_type": "STEP", "step_tag_id": newline[0]}


@pytest.mark.parametrize("name", ["qwen-prm", "token-classification", "value-head", "trl", "skywork-prm"])
def test_step_pooling_tag_is_the_id_at_every_rendered_score_position(name):
    """STEP pooling returns rows at one token id: it must be the id every step is read at."""
    from prmkit.render import render
    from prmkit.scorers.vllm import engine_config

    tok = _tok()
    _, pool = engine_config(get_format(name), tok, "m", max_model_len=64)
    r = render("What is 3 + 4?", ["3 + 4 = 7", "", "The answer is 7."], name, tok)
    assert pool["pooling_type"] == "STEP"
    assert [r.input_ids[p] for p in r.step_positions] == [pool["step_tag_id"]] * 3


def test_engine_config_refuses_implicit_and_overridden_keys():
    from prmkit.errors import PrmkitError
    from prmkit.scorers.vllm import engine_config

    with pytest.raises(PrmkitError, match="implicit PRM is not served"):
        engine_config(get_format("implicit"), _tok(), "m")
    with pytest.raises(PrmkitError, match="cannot be overridden: runner"):
        engine_config(get_format("qwen-prm"), _tok(), "m", extra={"runner": "generate"})


def _save_family(name, tok, path):
    """A tiny checkpoint of each family, with the architecture name vLLM resolves."""
    from prmkit.models.tiny import build_tiny_model

    kind = {
        "qwen-prm": "qwen-prm",
        "token-classification": "token-classification",
        "value-head": "value-head",
    }
    m = build_tiny_model(kind.get(name, "causal-lm"), tok, hidden_size=64, num_layers=2, num_heads=4)
    m.save_pretrained(path)
    tok.save_pretrained(path)
    if name == "qwen-prm":  # save_pretrained writes the class name; vLLM knows the released one
        cfg = json.loads((path / "config.json").read_text())
        cfg["architectures"] = ["Qwen2ForProcessRewardModel"]
        (path / "config.json").write_text(json.dumps(cfg))
    return m


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vllm is not installed: engine arguments are not resolved by vLLM's own config check here",
)
@pytest.mark.parametrize(
    "name", ["qwen-prm", "lm-token-pair", "chat-turn", "token-classification", "value-head"]
)
def test_engine_args_pass_vllms_own_config_check(tmp_path, name):  # pragma: no cover - needs vllm
    from vllm import EngineArgs
    from vllm.config import PoolerConfig

    from prmkit.scorers.vllm import engine_config

    tok = _tok()
    _save_family(name, tok, tmp_path)
    kw, pool = engine_config(get_format(name), tok, str(tmp_path), dtype="fp32", max_model_len=256)
    cfg = EngineArgs(**kw, pooler_config=PoolerConfig(**pool)).create_model_config()
    assert cfg.runner_type == "pooling" and cfg.max_model_len == 256


@pytest.mark.skipif(
    vllm_available() is not None, reason=f"vLLM scoring needs vllm + a CUDA GPU: {vllm_available()}"
)
def test_vllm_matches_transformers_qwen_prm(tmp_path):  # pragma: no cover - GPU only
    from prmkit.models.tiny import train_tokenizer
    from prmkit.scorers.neural import QwenPRMScorer
    from prmkit.scorers.vllm import VLLMScorer

    tok = train_tokenizer(["What is 3 + 4? 3 + 4 = 7. The answer is 7."] * 5, vocab_size=300)
    m = _save_family("qwen-prm", tok, tmp_path)  # architectures rewritten after save_pretrained
    steps = [["3 + 4 = 7", "The answer is 7."]]
    want = QwenPRMScorer(m, tok).score_batch(["What is 3 + 4?"], steps)
    got = VLLMScorer(str(tmp_path), "qwen-prm", dtype="float32", enforce_eager=True).score_batch(
        ["What is 3 + 4?"], steps
    )
    assert got[0] == pytest.approx(want[0], abs=1e-3)
