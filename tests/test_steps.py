"""Step splitting presets and their inverse joins."""

from __future__ import annotations

import json

import pytest

from prmkit.errors import PrmkitError
from prmkit.steps import STEP_PRESETS, join_steps, split_steps, strip_calculator_tags


def test_presets_registered():
    assert {"\n\n", "\n", "step-headers", "gsm8k"} <= set(STEP_PRESETS.names())
    with pytest.raises(PrmkitError, match="unknown step preset"):
        split_steps("a", "nope")


@pytest.mark.parametrize("preset", ["\n\n", "\n", "step-headers", "gsm8k"])
def test_join_split_inverse(preset):
    steps = ["2*3 = 6", "6+1 = 7", "The answer is 7."]
    assert split_steps(join_steps(steps, preset), preset) == steps


def test_paragraphs_and_lines():
    assert split_steps("  a\n\n\n b \n \nc ", "\n\n") == ["a", "b", "c"]
    assert split_steps("a\nb\n\nc", "\n") == ["a", "b", "c"]
    assert split_steps("a\nb", "lines") == ["a", "b"]


def test_step_headers_with_preamble():
    text = "Let us see.\nStep 1: x = 2\nmore of step 1\nStep 2: y = 3"
    assert split_steps(text, "step-headers") == ["Let us see.", "x = 2\nmore of step 1", "y = 3"]
    assert split_steps("## Step 1. a\n**Step 2:** b", "step-headers") == ["a", "b"]


def test_gsm8k_calculator_and_final(shared_data):
    row = json.loads((shared_data / "gsm8k" / "test.jsonl").open().readline())
    kept = split_steps(row["answer"], "gsm8k")
    stripped = split_steps(row["answer"], "gsm8k", strip_calculator=True)
    assert any("<<" in s for s in kept) and not any("<<" in s for s in stripped)
    final = row["answer"].strip().splitlines()[-1].split("####")[1].strip()
    assert kept[-1] == f"The answer is {final}."
    assert join_steps(kept, "gsm8k") == "\n".join(x.strip() for x in row["answer"].splitlines() if x.strip())
    assert strip_calculator_tags("a <<1+1=2>>2") == "a 2"
