"""Neural PRM families: parity with a hand-written plain transformers forward (fp32 CPU, 1e-5),
batched == unbatched for left and right padding, truncation, loading from disk / prmkit.json."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from prmkit.models.tiny import build_tiny_model, train_tokenizer
from prmkit.render import _single_token_id, render
from prmkit.scorers import SCORERS, load_scorer
from prmkit.scorers.neural import (
    ChatTurnScorer,
    QwenPRMModel,
    QwenPRMScorer,
    TokenClassificationScorer,
    TokenPairScorer,
    ValueHeadScorer,
)

PROBLEMS = ["Tom has 3 apples and buys 4 more. How many?", "What is 6 * 7?", "2 + 2?", "Sum 1..4?"]
STEPS = [
    ["3 + 4 = 7.", "The answer is 7."],
    ["6 * 7 = 42", "", "So the answer is 42 ки <extra_0>"],
    ["2 + 2 = 5."],
    ["1 + 2 = 3", "3 + 3 = 6", "6 + 4 = 10", "The answer is 10.", "Done. " * 20],
]
ATOL = 1e-5


@pytest.fixture(scope="module")
def tok():
    texts = [p + " " + " ".join(s) for p, s in zip(PROBLEMS, STEPS, strict=True)] * 3
    return train_tokenizer(texts, vocab_size=300)


@pytest.fixture(scope="module")
def models(tok):
    kw = dict(hidden_size=32, num_layers=2, num_heads=2)
    return {
        "token-classification": build_tiny_model("token-classification", tok, arch="llama", **kw),
        "value-head": build_tiny_model("value-head", tok, **kw),
        "qwen-prm": build_tiny_model("qwen-prm", tok, **kw),
        "causal-lm": build_tiny_model("causal-lm", tok, arch="llama", seed=3, **kw),
    }


def _plain_logits(model, ids):
    model.eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def _assert_close(a, b, atol=ATOL):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            assert (u is None and v is None) or abs(u - v) <= atol, (x, y)


def test_every_prm_format_has_a_scorer_reading_its_head():
    """Each registered PRM format is a scorer family of the same name, rendering with that
    format by default and reading the head the format names."""
    from prmkit.render import PRM_FORMATS, get_format
    from prmkit.scorers.implicit import ImplicitPRMScorer

    reads = {
        "classification": (TokenClassificationScorer, QwenPRMScorer),
        "value": (ValueHeadScorer,),
        "token-pair": (TokenPairScorer,),
        "log-ratio": (ImplicitPRMScorer,),
    }
    for name in PRM_FORMATS.names():
        cls = SCORERS.get(name)
        assert cls.format_name == name
        head = get_format(name).head
        if head in reads:  # other heads (lm-likelihood) have their own family class
            assert issubclass(cls, reads[head]), name


def test_token_classification_parity(tok, models):
    m = models["token-classification"]
    s = TokenClassificationScorer(m, tok)
    got = s.score_batch(PROBLEMS, STEPS)
    ref = []
    for p, st in zip(PROBLEMS, STEPS, strict=True):
        r = render(p, st, "token-classification", tok)
        probs = _plain_logits(m, r.input_ids).softmax(-1)[:, 1]
        ref.append([float(probs[i]) for i in r.step_positions])
    _assert_close(got, ref)
    assert s.forward_calls <= len(PROBLEMS)  # never more than one forward per solution


def test_value_head_parity_and_num_labels_1_under_token_classification(tok, models):
    m = models["value-head"]
    ref = []
    for p, st in zip(PROBLEMS, STEPS, strict=True):
        r = render(p, st, "value-head", tok)
        v = _plain_logits(m, r.input_ids)[:, 0].sigmoid()
        ref.append([float(v[i]) for i in r.step_positions])
    _assert_close(ValueHeadScorer(m, tok).score_batch(PROBLEMS, STEPS), ref)
    _assert_close(TokenClassificationScorer(m, tok).score_batch(PROBLEMS, STEPS), ref)


def test_lm_token_pair_parity_configurable_tokens(tok, models):
    m = models["causal-lm"]
    for opts in ({}, {"step_tag": "<step>", "good_token": "7", "bad_token": "5"}):
        s = TokenPairScorer(m, tok, **opts)
        good = _single_token_id(tok, s.fmt.good_token, "g")
        bad = _single_token_id(tok, s.fmt.bad_token, "b")
        ref = []
        for p, st in zip(PROBLEMS, STEPS, strict=True):
            r = render(p, st, s.fmt, tok)
            lg = _plain_logits(m, r.input_ids)[:, [good, bad]].softmax(-1)[:, 0]
            ref.append([float(lg[i]) for i in r.step_positions])
        _assert_close(s.score_batch(PROBLEMS, STEPS), ref)
    assert TokenPairScorer(m, tok).fmt.step_tag == " ки"  # Math-Shepherd: step + " ки"


def test_chat_turn_one_pass_equals_turn_by_turn(tok, models):
    """All turns in one forward equal the evaluator's turn-by-turn forwards (causality)."""
    m = models["causal-lm"]
    s = ChatTurnScorer(m, tok)
    got = s.score_batch(PROBLEMS, STEPS)
    good = _single_token_id(tok, "+", "g")
    bad = _single_token_id(tok, "-", "b")
    for p, st, g in zip(PROBLEMS, STEPS, got, strict=True):
        turn_by_turn = []
        for k in range(len(st)):
            r = render(p, st[: k + 1], "chat-turn", tok)
            pos = r.step_positions[-1]
            assert r.input_ids[pos + 1] == good  # the assistant answers "+"
            lg = _plain_logits(m, r.input_ids[: pos + 1])[-1, [good, bad]].softmax(-1)
            turn_by_turn.append(float(lg[0]))
        _assert_close([g], [turn_by_turn])
    assert s.forward_calls <= len(PROBLEMS)


def test_qwen_prm_layout_save_load_and_parity(tok, models, tmp_path):
    m = models["qwen-prm"]
    keys = set(m.state_dict())
    h = m.config.hidden_size
    assert {"score.0.weight", "score.0.bias", "score.2.weight", "score.2.bias"} <= keys
    assert "model.embed_tokens.weight" in keys
    assert tuple(m.state_dict()["score.0.weight"].shape) == (h, h)
    assert tuple(m.state_dict()["score.2.weight"].shape) == (2, h)
    assert isinstance(m.score[1], torch.nn.ReLU)
    m.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded = load_scorer("qwen-prm", str(tmp_path), device="cpu", dtype="fp32")
    assert isinstance(loaded, QwenPRMScorer) and type(loaded.model).__name__ == "QwenPRMModel"
    extra = tok.convert_tokens_to_ids("<extra_0>")
    ref = []
    for p, st in zip(PROBLEMS, STEPS, strict=True):
        r = render(p, st, "qwen-prm", tok)
        with torch.no_grad():
            hid = m.model(input_ids=torch.tensor([r.input_ids])).last_hidden_state[0]
            probs = m.score(hid).softmax(-1)[:, 1]
        # the <extra_0> that follows each step (the step text may contain its own)
        assert all(r.input_ids[i] == extra for i in r.step_positions)
        ref.append([float(probs[i]) for i in r.step_positions])
    _assert_close(QwenPRMScorer(m, tok).score_batch(PROBLEMS, STEPS), ref)
    _assert_close(loaded.score_batch(PROBLEMS, STEPS), ref)


@pytest.mark.parametrize(
    "kind,cls", [("token-classification", TokenClassificationScorer), ("causal-lm", ChatTurnScorer)]
)
@pytest.mark.parametrize("side", ["right", "left"])
def test_batched_equals_unbatched(tok, models, kind, cls, side):
    m = models[kind]
    one = cls(m, tok, batch_tokens=1)
    many = cls(m, tok, batch_tokens=100000, max_pad_fraction=1.0, padding_side=side)
    a = one.score_batch(PROBLEMS, STEPS)
    b = many.score_batch(PROBLEMS, STEPS)
    assert one.forward_calls == len(PROBLEMS) and many.forward_calls == 1
    _assert_close(a, b)


def test_order_restored_and_empty_input(tok, models):
    s = TokenClassificationScorer(
        models["token-classification"], tok, batch_tokens=100000, max_pad_fraction=1.0
    )
    fwd = s.score_batch(PROBLEMS, STEPS)
    rev = s.score_batch(PROBLEMS[::-1], STEPS[::-1])
    _assert_close(fwd, rev[::-1])
    assert s.score_batch([], []) == []


def test_steps_beyond_window_are_none_and_counted(tok, models):
    s = TokenClassificationScorer(models["token-classification"], tok, max_length=40)
    full = TokenClassificationScorer(models["token-classification"], tok).score_batch(
        PROBLEMS[3:], STEPS[3:]
    )[0]
    with pytest.warns(UserWarning, match="beyond the model window"):
        got = s.score_batch(PROBLEMS[3:], STEPS[3:])[0]
    assert len(got) == len(STEPS[3]) and got[-1] is None
    kept = [g for g in got if g is not None]
    assert kept and all(abs(a - b) <= ATOL for a, b in zip(kept, full, strict=False))  # not shifted
    assert s.truncated_steps == got.count(None)


def test_load_from_prmkit_json_with_format_fields(tok, models, tmp_path):
    m = models["token-classification"]
    m.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    (tmp_path / "prmkit.json").write_text(
        json.dumps({"format": "token-classification", "step_tag": "<step>", "label_semantics": "hard"})
    )
    s = load_scorer(None, str(tmp_path), device="cpu", batch_tokens=512)
    assert isinstance(s, TokenClassificationScorer)
    assert s.fmt.step_tag == "<step>" and s.meta["label_semantics"] == "hard"
    assert s.policy.batch_tokens == 512
    ref = TokenClassificationScorer(m, tok, step_tag="<step>").score_batch(PROBLEMS, STEPS)
    _assert_close(s.score_batch(PROBLEMS, STEPS), ref)
    # options override prmkit.json
    assert load_scorer(None, str(tmp_path), step_tag="\n").fmt.step_tag == "\n"


def test_prmkit_json_written_before_tokenize_existed_keeps_pieces(tok, models, tmp_path):
    """A checkpoint whose prmkit.json records a prm_format without ``tokenize`` was trained on
    the separate-pieces layout (the only one then): it is scored with that layout."""
    from prmkit.render import render

    m = models["causal-lm"]
    m.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    old = {"name": "lm-token-pair", "head": "token-pair", "layout": "plain", "step_tag": "ки"}
    old |= {"prompt_suffix": " ", "step_suffix": "\n"}
    (tmp_path / "prmkit.json").write_text(json.dumps({"format": "lm-token-pair", "prm_format": old}))
    s = load_scorer(None, str(tmp_path), device="cpu")
    assert s.fmt.tokenize == "pieces" and s.fmt.step_tag == "ки"
    pieces = render(PROBLEMS[0], STEPS[0], "lm-token-pair-pieces", tok)
    assert s.render_all(PROBLEMS[:1], STEPS[:1])[0].input_ids == pieces.input_ids


def test_bf16_option_runs(tok, models):
    s = TokenClassificationScorer(
        build_tiny_model("token-classification", tok, hidden_size=32, num_layers=1),
        tok,
        dtype="bf16",
        device="cpu",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = s.score_batch(PROBLEMS[:1], STEPS[:1])
    assert next(s.model.parameters()).dtype == torch.bfloat16
    assert all(0.0 <= v <= 1.0 for v in out[0])


def test_unknown_option_is_an_error(tok, models):
    from prmkit.errors import PrmkitError

    with pytest.raises(PrmkitError, match="unknown option"):
        TokenClassificationScorer(models["token-classification"], tok, step_tagg="x")


def test_qwen_prm_checkpoint_loads_without_missing_or_unexpected_keys(tok, models, tmp_path):
    """A checkpoint with the released Qwen2.5-Math-PRM module names loads into QwenPRMModel with
    every weight used and nothing left random (score head included)."""
    m = models["qwen-prm"]
    m.save_pretrained(tmp_path)
    loaded, info = QwenPRMModel.from_pretrained(str(tmp_path), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    for k, v in m.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
