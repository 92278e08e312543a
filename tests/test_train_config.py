"""TrainConfig and the shipped recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from prmkit.config import build_config
from prmkit.errors import PrmkitError
from prmkit.train.config import TrainConfig

RECIPES = sorted((Path(__file__).resolve().parents[1] / "examples" / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipes_build(recipe):
    cfg = build_config(TrainConfig, recipe, {"out": "runs/x"})
    assert cfg.out == "runs/x" and cfg.format


def test_recipes_exist():
    assert len(RECIPES) >= 5


def test_flags_override_recipe(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("lr: 0.5\nloss: bce-soft\n")
    cfg = build_config(TrainConfig, r, {"lr": 0.25})
    assert cfg.lr == 0.25 and cfg.loss == "bce"  # bce-soft is an alias


def test_unknown_recipe_key_is_an_error(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("learning_rate: 1\n")
    with pytest.raises(PrmkitError, match="learning_rate"):
        build_config(TrainConfig, r, {})


@pytest.mark.parametrize(
    "kw,field",
    [({"after_error": "zap"}, "after_error"), ({"label_transform": "x"}, "label_transform"),
     ({"init": "big"}, "init"), ({"loss": "mse"}, "loss"), ({"er_eta": 0}, "er_eta")],
)  # fmt: skip
def test_bad_values_name_the_field(kw, field):
    with pytest.raises(PrmkitError) as e:
        TrainConfig(**kw)
    assert e.value.field == field
