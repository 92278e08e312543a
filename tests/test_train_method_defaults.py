"""PQM and ER-PRM training data exactly as their authors prepare it (method defaults, recipes).

One record with a correct step after a wrong one goes through prmkit's data path (the record
reader, ``TrainConfig`` defaults, ``build_examples``, the loss) and is compared with small
re-implementations, written for this test, of what the official preprocessing computes:

- PQM: WindyLee0822/Process_Q_Model, commit c5a2a02e2693e7751f3f03fb3b01a1b162a9bf52,
  ``train_main.py`` (``generate_dataset``: every Math-Shepherd step kept, label 1 for ``+`` and 0
  for ``-``; ``PRMTrainer.ranking_loss``).
- ER-PRM: hanningzhang/ER-PRM, commit 5a996d45fbf9b82c818fd05e27670aac34619355,
  ``MCTS/calculate_score.py`` (``normalize_score``, ``calculate_step_score``: every step labelled,
  ``|log(mean_completions exp(eta * correct)) / eta|`` rounded to 3 decimals, the last step by its
  own answer) and ``MCTS/convert_autoregressive.py`` (one value per step tag, all kept).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from prmkit.config import build_config
from prmkit.formats.math_shepherd import _parse
from prmkit.records import Solution
from prmkit.train.config import TrainConfig
from prmkit.train.data import IGNORE, build_examples
from prmkit.train.losses import pqm_loss

RECIPES = Path(__file__).resolve().parent.parent / "examples" / "recipes"

# Math-Shepherd row: step 2 wrong, step 3 right again ("+" after "-"), step 4 wrong
MS_ROW = {
    "input": "Ann has 3 bags of 4 apples. How many? Step 1: 3 x 4 = 12 ки\nStep 2: 12 + 1 = 14 ки\n"
    "Step 3: 3 x 4 = 12 ки\nStep 4: The answer is: 13 ки",
    "label": "Ann has 3 bags of 4 apples. How many? Step 1: 3 x 4 = 12 +\nStep 2: 12 + 1 = 14 -\n"
    "Step 3: 3 x 4 = 12 +\nStep 4: The answer is: 13 -",
}


@pytest.fixture(scope="module")
def tok():
    from prmkit.models.tiny import train_tokenizer

    return train_tokenizer([MS_ROW["input"], MS_ROW["label"], "ки + - The answer is"], vocab_size=320)


def _labels(cfg: TrainConfig, records: list[Solution], tok) -> list[list[float]]:
    examples, _ = build_examples(
        records,
        cfg.format,
        tok,
        cfg.max_length,
        after_error=cfg.after_error,
        label_transform=cfg.label_transform,
        er_eta=cfg.er_eta,
    )
    return [[v for v in ex["labels"] if v != IGNORE] for ex in examples]


# ---------------------------------------------------------------- PQM


def _pqm_official_labels(row: dict) -> list[int]:
    """generate_dataset: steps split on 'Step k:', labels from the last character of each."""
    steps = [s for s in re.split(r"Step \d+:", row["input"]) if s.strip()][1:]
    label_steps = [s.strip() for s in re.split(r"Step \d+:", row["label"])[1:]]
    assert len(steps) == len(label_steps)
    return [1 if s[-1] == "+" else 0 for s in label_steps]


def _pqm_official_loss(q: list[float], labels: list[int], zeta: float) -> float:
    """ranking_loss for one trajectory: a virtual first term when some step is wrong, then one
    term per correct step c: -log(e^Qc / (e^Qc + 1 + sum_{correct c' < c} e^Qc' + sum_wrong e^(Qw+zeta) + 1e-5)),
    averaged over the terms."""
    neg = sum(math.exp(qi + zeta) for qi, y in zip(q, labels, strict=True) if y == 0)
    terms = []
    if 0 in labels:
        terms.append(-math.log(1.0 / (1.0 + neg + 1e-5)))
    before = 0.0
    for qi, y in zip(q, labels, strict=True):
        if y == 1:
            terms.append(-math.log(math.exp(qi) / (math.exp(qi) + 1.0 + before + neg + 1e-5)))
            before += math.exp(qi)
    return sum(terms) / len(terms)


def test_pqm_default_keeps_every_label_as_the_official_code(tok):
    sol = _parse(dict(MS_ROW), "ms.jsonl", 1)[0]
    cfg = TrainConfig(data="x", out="y", init="tiny", format="value-head", loss="pqm")
    assert cfg.after_error == "as-is"
    official = _pqm_official_labels(MS_ROW)
    assert official == [1, 0, 1, 0]
    assert _labels(cfg, [sol], tok) == [[float(v) for v in official]]
    # the loss on what prmkit feeds it equals the official loss (issue #24's example: 4.0689)
    q = [0.5, -0.4, 1.3, 0.2]
    ref = _pqm_official_loss(q, official, zeta=4.0)
    assert ref == pytest.approx(4.0689, abs=1e-4)
    got = pqm_loss(torch.tensor([q]), torch.tensor([_labels(cfg, [sol], tok)[0]]), zeta=cfg.pqm_zeta)
    assert got.item() == pytest.approx(ref, abs=1e-5)
    # the other after_error choices give other data and another loss
    for other, expect in (("keep", [1.0, 0.0, 0.0, 0.0]), ("drop", [1.0, 0.0])):
        cfg_o = TrainConfig(
            data="x", out="y", init="tiny", format="value-head", loss="pqm", after_error=other
        )
        assert cfg_o.after_error == other and _labels(cfg_o, [sol], tok) == [expect]


# ---------------------------------------------------------------- ER-PRM


def _er_prm_official_labels(completions: list[list[int]], final_correct: int, eta: int) -> list[float]:
    """calculate_step_score: each non-final step from the correctness of its completions, the
    final step from its own answer."""
    out = []
    for labs in completions:
        mean_exp = sum(math.exp(eta * y) for y in labs) / len(labs)
        out.append(round(abs(math.log(mean_exp) / eta), 3))
    out.append(round(float(final_correct), 3))
    return out


@pytest.mark.parametrize("eta", [1, 2])
def test_er_prm_default_labels_every_step_as_the_official_code(tok, eta):
    # 8 completions per step: Monte Carlo rates 0.75, 0.375 (a wrong step), 0.625 (right again)
    completions = [[1] * 6 + [0] * 2, [1] * 3 + [0] * 5, [1] * 5 + [0] * 3]
    rates = [sum(c) / len(c) for c in completions] + [1.0]
    sol = Solution(
        id="er#0",
        problem="Ann has 3 bags of 4 apples. How many?",
        steps=["3 x 4 = 12", "12 + 1 = 14", "3 x 4 = 12", "The answer is 12."],
        labels=rates,
    )
    cfg = TrainConfig(
        data="x", out="y", init="tiny", format="lm-token-pair", label_transform="er-prm", er_eta=eta
    )
    assert cfg.after_error == "as-is"
    official = _er_prm_official_labels(completions, 1, eta)
    got = _labels(cfg, [sol], tok)
    assert len(got) == 1 and len(got[0]) == 4  # all four steps, as the official data
    assert got[0] == pytest.approx(official, abs=5e-4)  # the official file rounds to 3 decimals
    # before the fix the CLI default cut training at the first rate below 0.5
    cut = TrainConfig(
        data="x", out="y", init="tiny", format="lm-token-pair", label_transform="er-prm", after_error="drop"
    )
    assert len(_labels(cut, [sol], tok)[0]) == 2


def test_plain_bce_keeps_prmkits_drop_default(tok):
    cfg = TrainConfig(data="x", out="y", init="tiny")
    assert cfg.after_error == "drop"
    sol = _parse(dict(MS_ROW), "ms.jsonl", 1)[0]
    assert _labels(cfg, [sol], tok) == [[1.0, 0.0]]


@pytest.mark.parametrize(
    "recipe, loss, transform",
    [("pqm-value-head.yaml", "pqm", "none"), ("soft-labels-er-prm.yaml", "bce", "er-prm")],
)
def test_recipes_agree_with_the_method_defaults(recipe, loss, transform):
    from_recipe = build_config(TrainConfig, RECIPES / recipe, {})
    assert (from_recipe.loss, from_recipe.label_transform) == (loss, transform)
    from_flags = build_config(
        TrainConfig, None, {"format": from_recipe.format, "loss": loss, "label_transform": transform}
    )
    assert from_recipe.after_error == from_flags.after_error == "as-is"
    # a flag still overrides the method default
    over = build_config(TrainConfig, RECIPES / recipe, {"after_error": "drop"})
    assert over.after_error == "drop"
