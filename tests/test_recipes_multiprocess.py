"""The multi-process training recipes (examples/recipes/accelerate/*.yaml, gpu-*.yaml, ds_*.json).

DeepSpeed ZeRO-2/3 and FSDP need CUDA GPUs, so they are never run here: these checks are what a
CPU can say about them. accelerate's own config reader loads each accelerate file, the DeepSpeed
JSON it names exists with the stage the file claims, every file says next to its settings that
it is GPU-only, and the ``prmkit train`` recipes build (tests/test_train_config.py builds every
recipe; here, the files they point at).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "examples" / "recipes"
ACCELERATE = sorted((RECIPES / "accelerate").glob("*.yaml"))


def test_each_engine_has_a_recipe():
    assert {p.stem for p in ACCELERATE} >= {"deepspeed-zero2", "deepspeed-zero3", "fsdp"}
    assert {"gpu-deepspeed.yaml", "gpu-deepspeed-zero3.yaml", "gpu-fsdp.yaml"} <= {
        p.name for p in RECIPES.glob("*.yaml")
    }


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_configs_load_with_accelerates_reader(path):
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(path))
    assert not cfg.use_cpu and cfg.num_processes >= 2
    if path.stem.startswith("deepspeed"):
        assert str(cfg.distributed_type) == "DistributedType.DEEPSPEED"
        # with a DeepSpeed JSON, accelerate refuses the settings that the JSON owns
        assert set(cfg.deepspeed_config) <= {"deepspeed_config_file", "zero3_init_flag"}
        assert cfg.mixed_precision is None
        ds = json.loads((ROOT / cfg.deepspeed_config["deepspeed_config_file"]).read_text())
        assert ds["zero_optimization"]["stage"] == int(path.stem[-1])
        assert ds["gradient_accumulation_steps"] == "auto" and ds["train_micro_batch_size_per_gpu"] == "auto"
    else:
        assert str(cfg.distributed_type) == "DistributedType.FSDP"
        assert (
            cfg.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
        )  # a sharded save writes no weights


@pytest.mark.parametrize(
    "path",
    [
        *ACCELERATE,
        *(RECIPES / n for n in ("gpu-deepspeed.yaml", "gpu-deepspeed-zero3.yaml", "gpu-fsdp.yaml")),
    ],
    ids=lambda p: p.name,
)
def test_each_recipe_says_it_needs_gpus(path):
    head = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    assert "GPU ONLY" in head and "launch" in head


def test_zero3_saves_full_weights():
    ds = json.loads((RECIPES / "ds_zero3.json").read_text())
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


@pytest.mark.parametrize("name", ["gpu-deepspeed.yaml", "gpu-deepspeed-zero3.yaml", "gpu-fsdp.yaml"])
def test_train_recipes_point_at_shipped_files(name):
    from prmkit.config import build_config
    from prmkit.train.config import TrainConfig

    cfg = build_config(TrainConfig, RECIPES / name, {"out": "runs/x"})
    assert cfg.deepspeed is None or (ROOT / cfg.deepspeed).is_file()
    assert (cfg.deepspeed is None) != (cfg.fsdp is None)
