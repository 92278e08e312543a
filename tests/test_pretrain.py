"""The world base LM: the shipped checkpoint (its accuracy, its hash), and the recipe that made it
(loss falls, resume continues the same run, result positions are the result digits)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from prmkit.errors import PrmkitError
from prmkit.models.packaged import resolve_model
from prmkit.train.pretrain import (
    HELD_OUT_SEED_LIMIT,
    PretrainConfig,
    batch_tensors,
    correct_solutions,
    encode_drills,
    encode_solutions,
    pretrain,
    result_accuracy,
    sha256_file,
    train_seed,
    world_tokenizer,
)
from prmkit.worlds.arith import generate_problems

BASE = resolve_model("arith-base")


@pytest.fixture(scope="module")
def tok():
    return world_tokenizer(300, seed=0, n_problems=200)


def _shipped():
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    return (AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32),
            PreTrainedTokenizerFast.from_pretrained(BASE))  # fmt: skip


def test_shipped_checkpoint_is_small_and_matches_its_recipe():
    import os

    recipe = json.loads(Path(BASE, "recipe.json").read_text())
    path = f"{BASE}/model.safetensors"
    assert os.path.getsize(path) <= 5 * 2**20
    assert sha256_file(path) == recipe["sha256"]["model.safetensors"]
    assert recipe["seed"] == recipe["recipe"]["seed"]
    # the recipe's fields are exactly PretrainConfig's, so it can be rerun as it is
    PretrainConfig(**{k: v for k, v in recipe["recipe"].items() if k != "out"}, out="unused")


def test_shipped_base_lm_predicts_result_digits_on_held_out_problems():
    model, tok = _shipped()
    torch.manual_seed(0)
    res = result_accuracy(model, tok, 60, seed=9_123)  # seed unseen by training and by the recipe's eval
    assert sum(res["count"].values()) > 150
    for op, acc in res["acc"].items():
        assert acc >= 0.9, (op, res)


def test_result_positions_are_the_result_digits(tok):
    probs = generate_problems(6, seed=5)
    sols = correct_solutions(probs, 0.5, seed=5)
    enc = encode_solutions(tok, probs, sols, 1024)
    n_eq = sum(len(re.findall(r"\d+ [-+x*/] \d+ = \d+", st)) for s in sols for st in s)
    assert sum(len(e.results) for e in enc) == n_eq > 0
    for e, steps in zip(enc, sols, strict=True):
        want = [m.group(4) for st in steps for m in re.finditer(r"(\d+) ([-+x*/]) (\d+) = (\d+)", st)]
        got = [tok.decode([e.ids[q] for q in pos[:-1]]) for _, pos in e.results]
        assert got == want
        for _, pos in e.results:  # the closing token is not a digit
            assert not tok.decode([e.ids[pos[-1]]]).strip().isdigit()
    drills = encode_drills(tok, sols, per_row=4)
    assert [tok.decode([d.ids[q] for q in pos[:-1]]) for d in drills for _, pos in d.results] == [
        m.group(4) for s in sols for st in s for m in re.finditer(r"(\d+) ([-+x*/]) (\d+) = (\d+)", st)
    ]


def test_weights_mark_the_tokens_that_predict_results(tok):
    probs = generate_problems(2, seed=1)
    enc = encode_solutions(tok, probs, correct_solutions(probs, 0.0, 1), 1024)
    b = batch_tensors(enc, tok.pad_token_id, 3.0)
    for i, e in enumerate(enc):
        heavy = {q - 1 for _, pos in e.results for q in pos}
        w = b["weights"][i]
        assert {int(j) for j in torch.nonzero(w == 3.0)} == heavy
        assert float(w[len(e.ids) - 1 :].abs().sum()) == 0.0  # nothing after the last target


def test_training_seeds_are_disjoint_from_held_out_seeds():
    assert min(train_seed(s, t) for s in range(3) for t in (0, 10**6)) >= HELD_OUT_SEED_LIMIT
    with pytest.raises(PrmkitError):
        result_accuracy(None, None, 1, seed=train_seed(0, 0))


def _tiny(out, **kw):
    base = dict(out=str(out), hidden=32, layers=1, heads=2, vocab_size=300, batch_size=4, drill_rows=2,
                max_steps=6, warmup_steps=1, lr=3e-3, eval_every=0, n_eval=4, save_every=2, quiet=True,
                bf16=False, max_ops=3)  # fmt: skip
    return PretrainConfig(**(base | kw))


def test_recipe_loss_falls_and_exports(tmp_path):
    pretrain(_tiny(tmp_path / "a", max_steps=30, save_every=10), log=lambda s: None)
    rows = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    final = [r for r in rows if "final_eval" in r][0]
    recipe = json.loads((tmp_path / "a" / "model" / "recipe.json").read_text())
    assert recipe["steps"] == 30 and final["step"] == 30
    assert (
        sha256_file(tmp_path / "a" / "model" / "model.safetensors") == recipe["sha256"]["model.safetensors"]
    )


def test_loss_falls(tmp_path, tok):
    from prmkit.train.pretrain import build_base_model, training_batches, weighted_lm_loss

    cfg = _tiny(tmp_path)
    torch.manual_seed(0)
    model = build_base_model(cfg, tok)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batches = training_batches(cfg, tok)
    fixed = next(batches)
    first = None
    for _ in range(25):
        b = next(batches)
        loss = weighted_lm_loss(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits,
                                b["targets"], b["weights"])  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(
            weighted_lm_loss(model(input_ids=fixed["input_ids"]).logits, fixed["targets"], fixed["weights"])
        )
        first = float(weighted_lm_loss(build_base_model(cfg, tok)(input_ids=fixed["input_ids"]).logits,
                                       fixed["targets"], fixed["weights"]))  # fmt: skip
    assert after < 0.8 * first


def test_resume_continues_the_same_run(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import prmkit.train.pretrain as pt

    pretrain(_tiny(tmp_path / "straight"), log=lambda s: None)
    real = pt.training_batches

    def dies_after_4(cfg, tokenizer, start=0):  # the process is killed while fetching batch 5
        for i, b in enumerate(real(cfg, tokenizer, start)):
            if i == 4:
                raise KeyboardInterrupt
            yield b

    monkeypatch.setattr(pt, "training_batches", dies_after_4)
    with pytest.raises(KeyboardInterrupt):
        pretrain(_tiny(tmp_path / "split"), log=lambda s: None)
    monkeypatch.setattr(pt, "training_batches", real)
    assert json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())["step"] == 4
    with pytest.raises(PrmkitError, match="--resume"):
        pretrain(_tiny(tmp_path / "split"), log=lambda s: None)
    pretrain(_tiny(tmp_path / "split", resume=True), log=lambda s: None)
    a = load_file(tmp_path / "straight" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "split" / "checkpoint" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_init_continues_from_an_existing_base(tmp_path):
    """``--init`` starts from the given base LM's weights and tokenizer (continued pretraining), and
    its recipe must describe the init's architecture."""
    from safetensors.torch import load_file

    pretrain(_tiny(tmp_path / "a", hidden=48), log=lambda s: None)
    init = str(tmp_path / "a" / "model")
    with pytest.raises(PrmkitError, match="hidden 48"):  # the recipe must describe the init
        pretrain(_tiny(tmp_path / "b", init=init), log=lambda s: None)
    # a learning rate so small that one step leaves every float16 weight where the init put it
    pretrain(_tiny(tmp_path / "b", max_steps=1, lr=1e-12, weight_decay=0.0, init=init, seed=1, hidden=48),
             log=lambda s: None)  # fmt: skip
    pretrain(_tiny(tmp_path / "c", max_steps=1, lr=1e-12, weight_decay=0.0, seed=1), log=lambda s: None)
    a = load_file(tmp_path / "a" / "model" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model" / "model.safetensors")
    c = load_file(tmp_path / "c" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert c["model.embed_tokens.weight"].shape[1] == 32  # without --init: a fresh model
    assert (tmp_path / "a" / "tokenizer" / "tokenizer.json").read_text() == (
        tmp_path / "b" / "tokenizer" / "tokenizer.json"
    ).read_text()
    recipe = json.loads((tmp_path / "b" / "model" / "recipe.json").read_text())
    assert recipe["recipe"]["init"] == init
    assert recipe["phases"][0]["init_sha256"] == sha256_file(f"{init}/model.safetensors")
