"""vLLM scoring: the pooled-row mapping runs everywhere; the engine test needs vLLM and a GPU."""

from __future__ import annotations

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


@pytest.mark.skipif(
    vllm_available() is not None, reason=f"vLLM scoring needs vllm + a CUDA GPU: {vllm_available()}"
)
def test_vllm_matches_transformers_qwen_prm(tmp_path):  # pragma: no cover - GPU only
    from prmkit.models.tiny import build_tiny_model, train_tokenizer
    from prmkit.scorers.neural import QwenPRMScorer
    from prmkit.scorers.vllm import VLLMScorer

    tok = train_tokenizer(["What is 3 + 4? 3 + 4 = 7. The answer is 7."] * 5, vocab_size=300)
    m = build_tiny_model("qwen-prm", tok, hidden_size=64, num_layers=2, num_heads=4)
    m.config.architectures = ["Qwen2ForProcessRewardModel"]
    m.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    steps = [["3 + 4 = 7", "The answer is 7."]]
    want = QwenPRMScorer(m, tok).score_batch(["What is 3 + 4?"], steps)
    got = VLLMScorer(str(tmp_path), "qwen-prm", dtype="float32", enforce_eager=True).score_batch(
        ["What is 3 + 4?"], steps
    )
    assert got[0] == pytest.approx(want[0], abs=1e-3)
