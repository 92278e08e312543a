"""End-to-end: tiny models train a few steps, write a checkpoint that plain transformers and
prmkit's scorers read back, resume from a checkpoint, LoRA, every loss/format pair, CLI."""

from __future__ import annotations

import json
import math

import pytest

from prmkit.records import write_records
from prmkit.render import render
from prmkit.train.config import TrainConfig
from prmkit.train.trainer import train

TINY = dict(init="tiny", tiny_hidden=32, tiny_layers=1, tiny_heads=2, tiny_vocab=320, batch_size=8,
            logging_steps=1, max_length=512, eval_batch_size=16, threads=1)  # fmt: skip


@pytest.fixture(scope="module")
def recs():
    from prmkit.worlds.arith import make_bench

    return make_bench(40, seed=3, max_ops=3)


def _plain_scores(out, records, model=None):
    """Step scores with plain transformers: softmax(head)[1] at render positions."""
    import torch
    from transformers import AutoModelForTokenClassification, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(str(out))
    model = (model or AutoModelForTokenClassification.from_pretrained(str(out))).eval()
    scores = []
    with torch.no_grad():
        for r in records:
            rd = render(r.problem, r.steps, "token-classification", tok)
            logits = model(torch.tensor([rd.input_ids])).logits[0]
            scores.append([float(torch.softmax(logits[p], -1)[1]) for p in rd.step_positions])
    return scores


def test_train_lowers_loss_and_writes_loadable_checkpoint(tmp_path, recs):
    out = tmp_path / "tc"
    cfg = TrainConfig(out=str(out), max_steps=12, lr=1e-2, eval_steps=6, **TINY)
    res = train(cfg, train_records=recs[:32], eval_records=recs[32:])
    losses = [h["loss"] for h in res.log_history if "loss" in h]
    assert len(losses) == 12

    def bce(scores):  # on the training steps up to the first error
        tot = n = 0
        for r, row in zip(recs[:32], scores, strict=True):
            for y, p in zip(r.labels, row, strict=True):
                if y is not None:
                    tot -= y * math.log(p) + (1 - y) * math.log(1 - p)
                    n += 1
        return tot / n

    from transformers import PreTrainedTokenizerFast

    from prmkit.models.tiny import build_tiny_model

    tok = PreTrainedTokenizerFast.from_pretrained(str(out))
    init = build_tiny_model("token-classification", tok, seed=0, hidden_size=32, num_layers=1, num_heads=2,
                            max_position_embeddings=512)  # fmt: skip
    assert bce(_plain_scores(out, recs[:32])) < bce(_plain_scores(out, recs[:32], init)) - 0.05
    meta = json.loads((out / "prmkit.json").read_text())
    assert meta["format"] == "token-classification" and meta["prm_format"]["step_tag"] == "\n"
    assert meta["tokenizer_class"] == "PreTrainedTokenizerFast" and "label_semantics" in meta
    assert [h["step"] for h in res.history] == [6, 12] and 0 <= res.metrics["eval_pb_f1"] <= 100
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["data"]["steps_labelled"] > 0 and summary["global_step"] == 12
    plain = _plain_scores(out, recs[32:36])
    assert all(0 < s < 1 for row in plain for s in row)
    from prmkit.scorers.base import load_scorer

    scorer = load_scorer(None, str(out))  # family read from prmkit.json
    got = scorer.score_batch([r.problem for r in recs[32:36]], [r.steps for r in recs[32:36]])
    for a, b in zip(got, plain, strict=True):
        assert a == pytest.approx(b, abs=1e-4)


def test_resume_from_checkpoint(tmp_path, recs):
    out = tmp_path / "res"
    first = train(
        TrainConfig(out=str(out), max_steps=2, save_steps=2, **TINY), train_records=recs, eval_records=[]
    )
    assert first.global_step == 2 and (out / "checkpoint-2").is_dir()
    again = train(TrainConfig(out=str(out), max_steps=4, save_steps=2, resume=True, **TINY),
                  train_records=recs, eval_records=[])  # fmt: skip
    assert again.global_step == 4 and (out / "checkpoint-4").is_dir()
    assert again.resumed_from is not None and again.resumed_from.endswith("checkpoint-2")
    logged = [h for h in again.log_history if "loss" in h]
    assert [h["step"] for h in logged] == [1, 2, 3, 4]  # steps 1-2 restored from the checkpoint, not rerun
    assert logged[:2] == [h for h in first.log_history if "loss" in h]


def test_lora_on_tiny_model(tmp_path, recs):
    from transformers import AutoModelForTokenClassification

    out = tmp_path / "lora"
    cfg = TrainConfig(out=str(out), max_steps=3, lora=True, lora_r=4, lora_alpha=8, lr=1e-2, **TINY)
    res = train(cfg, train_records=recs, eval_records=recs[:4])
    assert res.global_step == 3
    assert (out / "adapter" / "adapter_config.json").is_file()
    model = AutoModelForTokenClassification.from_pretrained(str(out))  # merged: plain transformers
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert all(0 < s < 1 for row in _plain_scores(out, recs[:2]) for s in row)


@pytest.mark.parametrize(
    "fmt,loss,extra",
    [
        ("value-head", "pqm", {"pqm_zeta": 2.0}),
        ("value-head", "bce-hard", {}),
        ("lm-token-pair", "bce", {"label_transform": "er-prm", "er_eta": 2.0}),
        ("implicit", "implicit-ce", {"gradient_checkpointing": True}),
    ],
)
def test_other_formats_and_losses(tmp_path, recs, fmt, loss, extra):
    out = tmp_path / fmt
    res = train(TrainConfig(out=str(out), format=fmt, loss=loss, max_steps=2, **TINY, **extra),
                train_records=recs[:24], eval_records=recs[24:30])  # fmt: skip
    assert res.global_step == 2
    losses = [h["loss"] for h in res.log_history if "loss" in h]
    assert losses and all(math.isfinite(v) for v in losses)
    meta = json.loads((out / "prmkit.json").read_text())
    assert meta["format"] == fmt and meta["loss"] == loss
    if fmt == "implicit":
        assert meta["ref_model"] == "ref" and (out / "ref" / "config.json").is_file()
    assert 0 <= res.metrics["eval_step_acc"] <= 100


def test_cli_train_with_recipe(tmp_path, recs):
    from typer.testing import CliRunner

    from prmkit.cli import app

    data = tmp_path / "train.jsonl"
    write_records(data, recs)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("tiny_hidden: 32\ntiny_layers: 1\ntiny_heads: 2\ntiny_vocab: 320\nbatch_size: 8\n")
    out = tmp_path / "cli"
    r = CliRunner().invoke(app, ["train", "--init", "tiny", "--data", str(data), "--out", str(out), "--max-steps", "2",
                                 "--config", str(recipe), "--eval-fraction", "0.1"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout[r.stdout.index("{") :])["global_step"] == 2
    assert (out / "prmkit.json").is_file() and (out / "tokenizer.json").is_file()


def test_bad_config_names_the_field():
    from prmkit.errors import PrmkitError

    with pytest.raises(PrmkitError, match="format"):
        TrainConfig(format="qwen-prm")
    with pytest.raises(PrmkitError, match="implicit"):
        TrainConfig(format="token-classification", loss="implicit-ce")
    with pytest.raises(PrmkitError, match="data"):
        train(TrainConfig(out="/tmp/x", init="tiny"))


def test_default_prm_plumbing(tmp_path):
    """train_default_prm end to end on a minute fraction of the tiny budget (exact labels; MC labelling is the labeller's own test area)."""
    from prmkit.train.default import train_default_prm

    res = train_default_prm(str(tmp_path / "d"), budget="tiny", labels="exact", n_problems=12, drills=40, n_eval=10, max_steps=2,
                            threads=1, tiny_hidden=32, tiny_layers=1, tiny_heads=2)  # fmt: skip
    assert res.global_step == 2 and (tmp_path / "d" / "prmkit.json").is_file()
    assert res.data_stats["examples"] == res.data_stats["records"] > 40
    assert "eval_pb_f1" in res.metrics
