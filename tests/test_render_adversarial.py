"""The one rendering function under adversarial steps: one score position per step, for every
format; truncation gives None (counted), never shifted positions."""

from __future__ import annotations

import pytest

from prmkit.models.tiny import train_tokenizer
from prmkit.render import PRM_FORMATS, _single_token_id, _tag_ids, get_format, pad_batch, render

ADVERSARIAL = [
    "",
    "   trailing spaces   ",
    "contains the tags ки and <extra_0> and <step> inline",
    "ки",
    "<extra_0>",
    "\n",
    "\n\n",
    "+",
    "unicode: ∑ é 中文 🙂 ½ −3",
    "very long " * 300,
    " leading space",
]
PROBLEM = "Tom has 3 apples ки and buys <extra_0> 4 more.\n\nHow many?"


@pytest.fixture(scope="module")
def tok():
    texts = ["Tom has 3 apples and buys 4 more. 3 + 4 = 7. The answer is 7.", "unicode ∑ é 中文"] * 5
    return train_tokenizer(texts, vocab_size=320)


@pytest.mark.parametrize("name", PRM_FORMATS.names())
def test_one_position_per_step_adversarial(tok, name):
    fmt = get_format(name)
    r = render(PROBLEM, ADVERSARIAL, fmt, tok)
    assert len(r.step_positions) == len(ADVERSARIAL) == len(r.step_spans)
    assert r.truncated == 0
    pos = r.step_positions
    assert all(p is not None for p in pos)
    assert pos == sorted(pos) and len(set(pos)) == len(pos)  # strictly increasing
    if fmt.layout == "chat-turns":
        good = _single_token_id(tok, fmt.good_token, "good")
        assert [r.input_ids[p + 1] for p in pos] == [good] * len(pos)
    elif fmt.tokenize == "whole":  # one tokenizer call on the reference string
        special = fmt.add_bos is None
        assert r.text is not None and r.input_ids == tok(r.text, add_special_tokens=special)["input_ids"]
    else:
        tag = _tag_ids(tok, fmt.step_tag)
        for p in pos:
            assert r.input_ids[p - len(tag) + 1 : p + 1] == tag
    # each step's own tokens lie before its position and after the previous one
    prev = -1
    for (s, e), p in zip(r.step_spans, pos, strict=True):
        assert prev < s <= e <= p
        prev = p


@pytest.mark.parametrize("name", [n for n in PRM_FORMATS.names() if get_format(n).tokenize != "whole"])
def test_steps_tokenized_independently_of_neighbours(tok, name):
    """A step's tokens do not depend on its neighbours (no merging across the tag) in the
    pieces/steps formats (whole-string formats tokenize as their references do instead)."""
    a = render(PROBLEM, ["3 + 4 = 7", "ки ки"], name, tok)
    b = render(PROBLEM, ["3 + 4 = 7", "The answer is 7"], name, tok)
    s0a, s0b = a.step_spans[0], b.step_spans[0]
    assert a.input_ids[s0a[0] : s0a[1]] == b.input_ids[s0b[0] : s0b[1]]
    assert a.step_positions[0] == b.step_positions[0]


@pytest.mark.parametrize("name", PRM_FORMATS.names())
def test_truncation_gives_none_never_shifted(tok, name):
    steps = ["step one is 3 + 4 = 7", "very long " * 40, "after the window", "also after"]
    full = render(PROBLEM, steps, name, tok)
    cut_at = full.step_positions[1] + 1  # keep steps 0 and 1 exactly
    cut = render(PROBLEM, steps, name, tok, max_length=cut_at)
    assert len(cut.input_ids) == cut_at
    assert cut.step_positions[:2] == full.step_positions[:2]
    assert cut.step_positions[2:] == [None, None]
    assert cut.step_spans[2:] == [None, None]
    assert cut.truncated == 2
    # one token shorter: step 1's position falls outside too
    cut2 = render(PROBLEM, steps, name, tok, max_length=cut_at - 1)
    assert cut2.step_positions == [full.step_positions[0], None, None, None]
    assert cut2.truncated == 3


def test_no_truncation_when_it_fits(tok):
    r = render(PROBLEM, ["a", "b"], "token-classification", tok)
    r2 = render(PROBLEM, ["a", "b"], "token-classification", tok, max_length=len(r))
    assert r2.step_positions == r.step_positions and r2.truncated == 0


def test_pad_batch_left_shifts_positions(tok):
    a = render(PROBLEM, ["a"], "token-classification", tok)
    b = render(PROBLEM, ["a", "a much longer step here"], "token-classification", tok)
    enc = pad_batch([a, b], pad_id=0, side="left")
    off = len(b) - len(a)
    assert enc["positions"][0] == [a.step_positions[0] + off]
    assert enc["input_ids"][0, off:].tolist() == a.input_ids
    assert enc["attention_mask"][0, :off].sum() == 0
