"""The tool world's base LM: the shipped ``tools-base`` (its hash, its held-out accuracy), the
recipe that made it (corpus marks, a few-step run, the recipe's command), and the
``lm-likelihood`` span that reads only the agent's own text of a step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from prmkit.errors import PrmkitError
from prmkit.models.packaged import resolve_model
from prmkit.runs import sha256_file
from prmkit.train.pretrain import HELD_OUT_SEED_LIMIT, pretrain
from prmkit.train.pretrain_tools import (
    ToolsPretrainConfig,
    action_accuracy,
    agent_start,
    batch_tensors,
    correct_steps,
    encode_trajectories,
    tools_tokenizer,
)
from prmkit.worlds.tools import generate_tasks

BASE = resolve_model("tools-base")


@pytest.fixture(scope="module")
def tok():
    return tools_tokenizer(300, seed=0, n_tasks=100)


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
    assert recipe["commands"][0].startswith("prmkit world tools pretrain --out DIR")
    # the recipe's fields are exactly ToolsPretrainConfig's, so it can be rerun as it is
    ToolsPretrainConfig(**{k: v for k, v in recipe["recipe"].items() if k != "out"}, out="unused")


def test_shipped_base_lm_copies_ids_and_numbers_on_held_out_tasks():
    model, tok = _shipped()
    res = action_accuracy(model, tok, 40, seed=9_321)  # seed unseen by training and by the recipe's eval
    assert sum(res["count"].values()) > 120
    # the digits of the agent's lookups (an id copied from a search result) and answers
    assert res["args"]["lookup"] >= 0.9, res
    assert res["args"]["answer"] >= 0.75, res
    assert res["token_acc"] >= 0.85, res


def test_agent_part_marks(tok):
    tasks = generate_tasks(3, seed=11)
    steps = correct_steps(tasks)
    enc = encode_trajectories(tok, tasks, steps, 1024)
    for e, sts in zip(enc, steps, strict=True):
        assert len(e.steps) == len(sts)
        assert [t for t, _ in e.steps] == [s.rsplit("\nAction: ", 1)[-1].removeprefix("Action: ").split("(")[0]
                                           for s in sts]  # fmt: skip
        agent = [q for _, pos in e.steps for q in pos[:-1]]
        text = tok.decode([e.ids[q] for q in agent])
        assert "Observation" not in text and "Thought" in text
        digits = [q for q in agent if e.kind[q] == 3]
        assert digits and all(tok.decode([e.ids[q]]).strip().isdigit() for q in digits)
        assert {e.kind[q] for q in range(len(e.ids)) if q not in set(agent)} <= {0, 1}
    b = batch_tensors(enc, tok.pad_token_id, 3.0, 0.1)
    w = b["weights"][0]
    assert {round(float(v), 3) for v in w[w > 0]} == {0.1, 1.0, 3.0}


def test_agent_start():
    assert agent_start("Thought: a\nAction: b") == 0
    s = "Observation: x\ny\nThought: t\nAction: a"
    assert s[agent_start(s) :] == "Thought: t\nAction: a"
    s = "Observation: x\nAction: a"
    assert s[agent_start(s) :] == "Action: a"


def test_eval_seed_must_be_held_out():
    with pytest.raises(PrmkitError):
        action_accuracy(None, None, 1, seed=HELD_OUT_SEED_LIMIT)


def test_recipe_runs_and_exports(tmp_path):
    """A few steps of the recipe; a run cut short records the step that replays the cut."""
    cfg = ToolsPretrainConfig(out=str(tmp_path / "a"), hidden=32, layers=1, heads=2, vocab_size=300, batch_size=2,
                              max_steps=6, stop_after=4, warmup_steps=1, lr=3e-3, eval_every=0, n_eval=2,
                              save_every=2, quiet=True, bf16=False, templates=["price"], argument_weight=2.0)  # fmt: skip
    final = pretrain(cfg, log=lambda s: None)
    assert set(final["acc"]) == {"search", "lookup", "calculate", "answer"}
    recipe = json.loads((tmp_path / "a" / "model" / "recipe.json").read_text())
    assert recipe["steps"] == 4
    cmd = recipe["commands"][0]
    assert cmd.startswith("prmkit world tools pretrain --out DIR --max-steps 6 ")
    assert "--argument-weight 2.0" in cmd and cmd.endswith("--stop-after 4")
    model = tmp_path / "a" / "model" / "model.safetensors"
    assert sha256_file(model) == recipe["sha256"]["model.safetensors"]


def test_likelihood_span_reads_the_agent_part(tok):
    """``span="agent"`` skips the observation of a tool step and is ``step`` on a step without one."""
    from prmkit.models.tiny import build_tiny_model
    from prmkit.render import render_many
    from prmkit.scorers.likelihood import _Pieces, batch_features, digit_mask, span_offset

    model = build_tiny_model("causal-lm", tok, arch="llama", seed=0, hidden_size=32, num_layers=1,
                             num_heads=2).eval()  # fmt: skip
    tasks = generate_tasks(2, seed=3)
    steps = correct_steps(tasks)
    rendered = render_many([t.question for t in tasks], steps, "lm-likelihood", tok)
    dm = digit_mask(tok)
    pad = tok.pad_token_id
    agent = batch_features(model, tok, rendered, dm, pad, "agent")
    whole = batch_features(model, tok, rendered, dm, pad, "step")
    action = batch_features(model, tok, rendered, dm, pad, "action")
    pieces = _Pieces(tok)
    for r, sts, fa, fw, fc in zip(rendered, steps, agent, whole, action, strict=True):
        assert fa[0] == fw[0]  # the first step has no observation
        for k in range(1, len(sts)):
            a, e = r.step_spans[k]
            ids = r.input_ids[a:e]
            start = pieces.start(ids, "agent")
            assert tok.decode(ids[start:]) == sts[k][span_offset(sts[k], "agent") :]
            assert fa[k][1] > fw[k][1]  # fewer (negative) log-probs summed
            assert fc[k][1] >= fa[k][1]
    # an arithmetic step has no observation: agent == step
    rendered = render_many(["Tom has 3 apples."], [["3 + 4 = 7.", "The answer is 7."]], "lm-likelihood", tok)
    assert batch_features(model, tok, rendered, dm, pad, "agent") == batch_features(model, tok, rendered, dm,
                                                                                    pad, "step")  # fmt: skip
    with pytest.raises(PrmkitError):
        batch_features(model, tok, rendered, dm, pad, "bogus")
