"""AdaptiveStep (confidence) splitting: cut positions, lossless join, labels, CLI exit codes."""

from __future__ import annotations

import json
import random

import pytest

import cli_util
from prmkit.errors import PrmkitError
from prmkit.policies.split import SplitConfig, source_text, split_records
from prmkit.records import Solution
from prmkit.steps import (
    SplitLayout,
    confidence_cuts,
    confidence_quantile,
    cut_text,
    join_layout,
    split_steps,
    split_text,
    step_spans,
)

TEXT = "He has 3 + 4 = 7 apples.\nThe answer is 7."
# hand tokenization of TEXT: (start, end) spans and made-up probabilities
SPANS = [(0, 2), (2, 6), (6, 8), (8, 10), (10, 12), (12, 14), (14, 16), (16, 23), (23, 24), (24, 25),
         (25, 28), (28, 35), (35, 38), (38, 40), (40, 41)]  # fmt: skip
PROBS = [0.9, 0.95, 0.3, 0.99, 0.04, 0.99, 0.6, 0.97, 0.99, 0.99, 0.8, 0.9, 0.99, 0.2, 0.99]


class _FakeConf:
    """Stands in for TokenConfidence: fixed spans and probabilities for TEXT."""

    def __call__(self, problems, texts):
        assert texts == [TEXT] * len(problems)
        return [(SPANS, PROBS)] * len(problems)


def test_hand_built_probabilities_cut_after_each_token_below_threshold():
    assert "".join(TEXT[s:e] for s, e in SPANS) == TEXT
    # below 0.5: " 3" (0.3, ends at 8), " 4" (0.04, ends at 12), " 7" (0.2, ends at 40)
    assert confidence_cuts(SPANS, PROBS, 0.5) == [8, 12, 40]
    steps, lay = split_text(TEXT, "confidence", spans=SPANS, probs=PROBS, threshold=0.5)
    assert steps == ["He has 3", "+ 4", "= 7 apples.\nThe answer is 7", "."]
    assert lay.seps == (" ", " ", "")  # the last cut falls inside "7."
    # a probability exactly at the threshold does not cut; 0.61 adds the " 7" of "= 7" (0.6)
    assert confidence_cuts(SPANS, PROBS, 0.3) == [12, 40]
    assert confidence_cuts(SPANS, PROBS, 0.61) == [8, 12, 16, 40]


def test_quantile_threshold_counts_the_pooled_tokens():
    # 15 probabilities; floor(0.2 * 15) = 3 -> the 4th smallest (0.6): three tokens fall below it
    thr = confidence_quantile([PROBS[:5], PROBS[5:]], 0.2)
    assert thr == 0.6
    assert len(confidence_cuts(SPANS, PROBS, thr)) == 3
    with pytest.raises(PrmkitError):
        confidence_quantile([[]], 0.1)


def test_cut_inside_a_number_keeps_the_join_exact():
    steps, lay = cut_text("x = 45\n", [5])
    assert steps == ["x = 4", "5"] and lay.seps == ("",) and lay.trail == "\n"
    assert join_layout(steps, lay) == "x = 45\n"


def test_lossless_on_random_texts_and_cuts():
    rng = random.Random(0)
    alphabet = "ab1 \n\t="
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        if not text.strip():
            continue
        cuts = [rng.randint(-2, len(text) + 2) for _ in range(rng.randint(0, 8))]
        steps, lay = cut_text(text, cuts)
        assert join_layout(steps, lay) == text
        assert all(s and s == s.strip() for s in steps)
        assert all(not sep.strip() for sep in lay.seps)
        spans = step_spans(steps, lay)
        assert [text[a:b] for a, b in spans] == steps


def test_newline_method_matches_the_line_preset():
    text = "a = 1\n\n  b = 2 \nc\n"
    steps, lay = split_text(text, "newline")
    assert steps == split_steps(text, "\n") == ["a = 1", "b = 2", "c"]
    assert join_layout(steps, lay) == text


def test_join_layout_refuses_a_wrong_separator_count():
    with pytest.raises(PrmkitError, match="separators"):
        join_layout(["a", "b"], SplitLayout("", (), ""))


def test_split_records_keeps_the_text_and_records_the_layout():
    rec = Solution(id="a", problem="p", steps=["He has 3 + 4 = 7 apples.", "The answer is 7."])
    cfg = SplitConfig(method="confidence", threshold=0.5)
    (out,) = split_records([rec], cfg, _FakeConf())
    assert out.steps == ["He has 3", "+ 4", "= 7 apples.\nThe answer is 7", "."]
    assert out.meta["split"]["threshold"] == 0.5
    assert join_layout(out.steps, SplitLayout.from_dict(out.meta["split"])) == TEXT
    # re-splitting a split record reads its layout, not --join: back to the two lines
    (back,) = split_records([out], SplitConfig(method="newline", join=" | "))
    assert back.steps == rec.steps
    assert source_text(back, "?") == TEXT


def test_labelled_records_are_refused_unless_labels_are_dropped():
    rec = Solution(id="a", problem="p", steps=["x = 1", "y = 2"], labels=[1.0, 0.0])
    with pytest.raises(PrmkitError, match="drop-labels"):
        split_records([rec], SplitConfig(method="newline"))
    (out,) = split_records([rec], SplitConfig(method="newline", drop_labels=True))
    assert out.labels is None and out.meta["split"]["dropped_labels"] is True


def test_config_needs_exactly_one_threshold_rule():
    with pytest.raises(PrmkitError, match="exactly one"):
        SplitConfig(method="confidence")
    with pytest.raises(PrmkitError, match="exactly one"):
        SplitConfig(method="confidence", threshold=0.1, quantile=0.1)
    with pytest.raises(PrmkitError):
        SplitConfig(method="sentences")


def test_token_confidence_matches_a_manual_forward_pass():
    torch = pytest.importorskip("torch")
    from prmkit.policies.split import TokenConfidence

    conf = TokenConfidence("arith-base", "auto")
    assert conf.context == "problem"
    problem, text = "Tom has 3 apples and buys 4 more. How many?", "3 + 4 = 7 apples.\nThe answer is 7."
    ((spans, probs),) = conf([problem], [text])
    assert "".join(text[s:e] for s, e in spans) == text
    ids = conf.tokenizer(problem + "\n" + text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        p = torch.softmax(conf.model(input_ids=ids).logits[0].float(), -1)
    n = len(probs)
    manual = [float(p[i - 1, ids[0, i]]) for i in range(ids.shape[1] - n, ids.shape[1])]
    assert probs == pytest.approx(manual, rel=1e-4, abs=1e-6)


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_cli_split_exit_codes(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.jsonl"
    _write(src, [{"id": "a", "problem": "p", "steps": ["x = 1\ny = 2", "z"]}])
    out = tmp_path / "out.jsonl"
    code, stdout, _ = cli_util.run_cli(["split", str(src), str(out)], monkeypatch, capsys)
    assert code == 0 and "1 records, 2 -> 3 steps" in stdout
    assert json.loads(out.read_text())["steps"] == ["x = 1", "y = 2", "z"]
    code, _, err = cli_util.run_cli(
        ["split", str(src), str(out), "--method", "confidence"], monkeypatch, capsys
    )
    assert code == 2 and "--threshold" in err
    lab = tmp_path / "lab.jsonl"
    _write(lab, [{"id": "a", "problem": "p", "steps": ["x", "y"], "labels": [1, 0]}])
    code, _, err = cli_util.run_cli(["split", str(lab), str(tmp_path / "o2.jsonl")], monkeypatch, capsys)
    assert code == 2 and "drop-labels" in err and not (tmp_path / "o2.jsonl").exists()
    code, _, err = cli_util.run_cli(["split", str(tmp_path / "missing.jsonl"), str(out)], monkeypatch, capsys)
    assert code == 2
