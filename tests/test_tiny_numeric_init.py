"""The opt-in arithmetic-friendly initialisation of tiny models (prmkit.models.tiny.numeric_init)."""

from __future__ import annotations

import torch

from prmkit.models.tiny import build_tiny_model, train_tokenizer


def _tok():
    return train_tokenizer(["Tom has 3 apples. 3 + 4 = 7. 12 x 5 = 60. The answer is 7."] * 4, vocab_size=300)


def test_digit_features_and_copy_heads_attend_k_tokens_back(tmp_path):
    tok = _tok()
    model = build_tiny_model(
        "token-classification", tok, hidden_size=96, num_layers=2, num_heads=8, numeric=True
    )
    emb = model.get_input_embeddings().weight
    seven = tok.convert_tokens_to_ids("7")
    assert emb[seven, 0].item() == 1.0  # is-digit feature
    assert abs(emb[seven, 1].item() - (7 - 4.5) / 4.5) < 1e-6  # value feature
    ids = torch.tensor([tok("3 + 4 = 7.", add_special_tokens=False)["input_ids"]])
    model.config._attn_implementation = "eager"
    model.model.config._attn_implementation = "eager"
    with torch.no_grad():
        out = model.model(input_ids=ids, output_attentions=True)
    att = out.attentions[0][0]  # layer 0: [heads, query, key]
    q = ids.shape[1] - 1
    for h in range(4):  # head h looks h + 1 tokens back
        assert att[h, q].argmax().item() == q - (h + 1)
        assert att[h, q, q - (h + 1)].item() > 0.5
    # still a plain transformers checkpoint
    model.save_pretrained(tmp_path)
    from transformers import AutoModelForTokenClassification

    again = AutoModelForTokenClassification.from_pretrained(tmp_path)
    assert torch.equal(again.get_input_embeddings().weight, emb)


def test_numeric_init_is_off_by_default():
    tok = _tok()
    model = build_tiny_model("token-classification", tok, hidden_size=64, num_layers=1, num_heads=4)
    seven = tok.convert_tokens_to_ids("7")
    assert abs(model.get_input_embeddings().weight[seven, 0].item()) < 0.2  # random init, no feature
