"""gsm8k-perturb: real GSM8K solutions with one injected, carried-forward calculation error."""

from __future__ import annotations

import pytest

from prmkit.errors import PrmkitError
from prmkit.worlds.arith_parse import parse_step
from prmkit.worlds.gsm8k_perturb import perturb_gsm8k, perturb_record, tag_is_true, tag_parts


def test_perturb_record_carries_error_forward():
    rec = perturb_record(
        "q", "He has 3*4=<<3*4=12>>12 apples.\nHe has 12-2=<<12-2=10>>10 left.\n#### 10", force=True, step=0
    )
    wrong = int(rec.meta["injected"]["wrong"])
    assert rec.steps[0] == f"He has 3*4={wrong} apples."
    assert rec.steps[1] == f"He has {wrong}-2={wrong - 2} left."
    assert rec.steps[2] == f"The answer is {wrong - 2}."
    assert rec.first_error == 0 and rec.labels == [0.0, None, None]
    assert not rec.meta["correct"]
    same = perturb_record("q", "He has 3*4=<<3*4=12>>12 apples.\n#### 12", force=False, keep_tags=True)
    assert same.steps == ["He has 3*4=<<3*4=12>>12 apples.", "The answer is 12."]
    assert same.first_error == -1 and same.labels == [1.0, 1.0]
    with pytest.raises(PrmkitError, match="####"):
        perturb_record("q", "no final line")


def test_gsm8k_perturb_half_wrong_with_true_first_error(shared_data):
    path = shared_data / "gsm8k" / "test.jsonl"
    recs = perturb_gsm8k(path, seed=0)
    assert len(recs) == 1319
    wrong = [r for r in recs if r.first_error >= 0]
    assert 0.45 < len(wrong) / len(recs) < 0.55
    for r in recs:
        r.validate()
        assert r.steps[-1] == f"The answer is {r.answer}."
        assert not any("<<" in s or "####" in s for s in r.steps)
    n_visible_false = 0
    for r in wrong:
        k = r.first_error
        tags = r.meta["calc_tags"]
        assert not all(tag_is_true(t) for t in tags[k]), (r.id, tags[k])
        for earlier in tags[:k]:
            assert all(tag_is_true(t) for t in earlier), (r.id, earlier)
        inj = r.meta["injected"]
        assert tag_parts(tags[k][inj["tag"]])[2] == tag_parts(f"0={inj['wrong']}")[2]
        # the visible step text shows the wrong value
        assert inj["wrong"] in r.steps[k].replace(",", "")
        eqs = parse_step(r.steps[k]).equations
        n_visible_false += any(not e.true for e in eqs)
    assert n_visible_false > 0.9 * len(wrong)  # others state no full equation in the text
    # the error reaches the final answer in most perturbed solutions
    assert sum(not r.meta["correct"] for r in wrong) > 0.8 * len(wrong)
    assert all(r.meta["correct"] for r in recs if r.first_error < 0)
    assert perturb_gsm8k(path, seed=0, limit=30) == recs[:30]
    assert perturb_gsm8k(path, seed=1, limit=30) != recs[:30]
