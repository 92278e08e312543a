"""RL engine adapters, called the way each engine calls them (verl, OpenRLHF, TRL)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from prmkit.errors import PrmkitError
from prmkit.rl.adapters import openrlhf as orl
from prmkit.rl.adapters import trl as trl_ad
from prmkit.rl.adapters import verl as verl_ad
from prmkit.scorers.oracle import ArithOracleScorer
from prmkit.worlds.arith import generate_problems, reference_solution


@pytest.fixture(scope="module")
def world():
    probs = generate_problems(4, seed=11, min_ops=2, max_ops=3, distractors=False)
    return probs, ArithOracleScorer(probs, partial=False)


def _wrong(p):
    steps = reference_solution(p)
    return steps[:-1] + [f"The answer is {int(p.reference_answer) + 1}."]


# ---------------------------------------------------------------- TRL


def test_trl_reward_func_string_and_conversational(world):
    probs, oracle = world
    f = trl_ad.make_process_reward_func(oracle, steps_preset="\n", problem_key=None)
    good, bad = "\n".join(reference_solution(probs[0])), "\n".join(_wrong(probs[0]))
    # the keyword call TRL makes, with extra dataset columns and trainer state
    out = f(
        prompts=[probs[0].question] * 2,
        completions=[good, bad],
        completion_ids=[[1], [2]],
        answer=["x", "y"],
        trainer_state=None,
        log_extra=None,
        log_metric=None,
    )
    assert out == [1.0, 0.0]
    conv_p = [[{"role": "system", "content": "Solve."}, {"role": "user", "content": probs[0].question}]] * 2
    conv_c = [[{"role": "assistant", "content": good}], [{"role": "assistant", "content": bad}]]
    assert f(prompts=conv_p, completions=conv_c) == [1.0, 0.0]
    # a problem column takes precedence over the (templated) prompt
    g = trl_ad.make_process_reward_func(oracle, steps_preset="\n")
    assert g(prompts=["<templated>"], completions=[good], problem=[probs[0].question]) == [1.0]
    o = trl_ad.make_outcome_reward_func("answer")
    assert o(prompts=["q", "q"], completions=[good, bad], answer=[probs[0].reference_answer] * 2) == [
        1.0,
        0.0,
    ]
    with pytest.raises(PrmkitError, match="answer"):
        o(prompts=["q"], completions=[good])


def test_trl_grpo_trainer_calls_reward_funcs(tmp_path, world):
    """One real GRPOTrainer step (TRL installed) with a tiny policy: TRL calls our reward functions."""
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    from prmkit.models.tiny import build_tiny_model, train_tokenizer

    probs, oracle = world
    tok = train_tokenizer([p.question + "\n".join(reference_solution(p)) for p in probs], vocab_size=300)
    model = build_tiny_model("causal-lm", tok, hidden_size=32, num_layers=1, max_position_embeddings=512)
    calls = []
    proc = trl_ad.make_process_reward_func(oracle, steps_preset="\n")

    def spy(prompts, completions, **kw):
        out = proc(prompts, completions, **kw)
        calls.append((len(prompts), out))
        return out

    spy.__name__ = "prmkit_process"
    ds = Dataset.from_list(
        [{"prompt": p.question + "\n", "problem": p.question, "answer": p.reference_answer} for p in probs]
    )
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        max_steps=1,
        learning_rate=1e-4,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        bf16=False,
    )
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[spy, trl_ad.make_outcome_reward_func("answer")],
        args=args,
        train_dataset=ds,
        processing_class=tok,
    )
    trainer.train()
    assert calls and calls[0][0] == 4 and all(v in (0.0, 1.0) for v in calls[0][1])


# ---------------------------------------------------------------- verl


def test_verl_compute_score_signature(world):
    probs, oracle = world
    cs = verl_ad.make_compute_score(oracle, steps_preset="\n", process_weight=0.5, outcome_weight=1.0)
    p = probs[1]
    good = cs(
        data_source="arith",
        solution_str="\n".join(reference_solution(p)),
        ground_truth=p.reference_answer,
        extra_info={"question": p.question, "index": 0},
    )
    assert good == {"score": 1.5, "process": 1.0, "outcome": 1.0, "acc": 1.0}
    bad = cs("arith", "\n".join(_wrong(p)), p.reference_answer, {"question": p.question})
    assert bad["score"] == 0.0 and bad["outcome"] == 0.0
    with pytest.raises(PrmkitError, match="extra_info"):
        cs("arith", "x", "1", None)


def test_verl_module_level_compute_score_via_server(world, monkeypatch):
    """The file-level compute_score (custom_reward_function.name=compute_score) over HTTP."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from prmkit.serve.app import create_app
    from prmkit.serve.config import ServeConfig

    probs, oracle = world
    with TestClient(create_app(oracle, ServeConfig(steps_preset="\n"))) as http:
        import prmkit.serve.client as client_mod

        class _C(client_mod.Client):
            def __init__(self, base_url, *a, **k):
                self.base_url, self.retries, self._http = base_url, 0, http

        monkeypatch.setattr(client_mod, "Client", _C)
        monkeypatch.setattr("prmkit.serve.Client", _C)
        verl_ad._CACHE.clear()
        p = probs[2]
        out = verl_ad.compute_score(
            "arith",
            "\n".join(reference_solution(p)),
            p.reference_answer,
            {"question": p.question},
            reward_url="http://testserver",
            steps_preset="\n",
        )
        assert out["process"] == 1.0 and out["score"] == 2.0
        verl_ad._CACHE.clear()


def test_verl_reward_manager_token_rewards(world):
    from prmkit.models.tiny import train_tokenizer

    probs, oracle = world
    tok = train_tokenizer([p.question + "\n".join(reference_solution(p)) for p in probs], vocab_size=300)
    p = probs[3]
    texts = ["\n".join(reference_solution(p)), "\n".join(_wrong(p))]
    prompt_ids = tok(p.question, add_special_tokens=False)["input_ids"]
    resp = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in texts]
    lr = max(len(r) for r in resp) + 2
    b = len(resp)
    responses = torch.full((b, lr), tok.pad_token_id)
    attn = torch.zeros((b, len(prompt_ids) + lr), dtype=torch.long)
    for i, r in enumerate(resp):
        responses[i, : len(r)] = torch.tensor(r)
        attn[i, : len(prompt_ids) + len(r)] = 1
    data = SimpleNamespace(
        batch={"prompts": torch.tensor([prompt_ids] * b), "responses": responses, "attention_mask": attn},
        non_tensor_batch={
            "data_source": np.array(["arith"] * b, dtype=object),
            "reward_model": np.array([{"ground_truth": p.reference_answer}] * b, dtype=object),
            "extra_info": np.array([{"question": p.question}] * b, dtype=object),
        },
    )
    mgr = verl_ad.PrmkitRewardManager(
        tok, num_examine=0, scorer=oracle, steps_preset="\n", credit="exact-min"
    )
    out = mgr(data, return_dict=True)
    rt = out["reward_tensor"]
    assert rt.shape == (b, lr)
    n_steps = len(texts[0].split("\n"))
    # good: exact-min rewards telescope to +1 (min of all +1), outcome +1 on the EOS token
    assert torch.isclose(rt[0].sum(), torch.tensor(2.0))
    assert rt[0, len(resp[0]) - 1] == 1.0 and (rt[0] != 0).sum() <= n_steps + 1
    assert (rt[0, len(resp[0]) :] == 0).all()  # nothing on padding
    # wrong final answer: last step -1, min-form return -1 at the start, outcome 0
    assert torch.isclose(rt[1].sum(), torch.tensor(-1.0))
    assert out["reward_extra_info"]["acc"] == [1.0, 0.0]
    soft = verl_ad.PrmkitRewardManager(tok, scorer=oracle, steps_preset="\n", outcome_weight=0.0)(data)
    assert soft[1].sum() < -0.99 and soft[0].sum() > 0.99


# ---------------------------------------------------------------- OpenRLHF


def test_openrlhf_remote_rm_endpoint(world):
    """POST exactly what OpenRLHF's remote_rm_fn posts and read "rewards" as it does."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from prmkit.serve.app import create_app
    from prmkit.serve.config import ServeConfig

    probs, oracle = world
    prompts = [p.question for p in probs[:2]] + [probs[0].question]
    responses = [
        "\n".join(reference_solution(probs[0])),
        "\n".join(reference_solution(probs[1])),
        "\n".join(_wrong(probs[0])),
    ]
    queries = [p + r for p, r in zip(prompts, responses, strict=True)]
    payload = orl.remote_rm_request(
        queries, prompts, [p.reference_answer for p in (probs[0], probs[1], probs[0])]
    )
    with TestClient(create_app(oracle, ServeConfig(steps_preset="\n", aggregation="min"))) as http:
        r = http.post("/get_reward", json=payload, headers={"Content-Type": "application/json"})
        r.raise_for_status()
        body = r.json()
    assert "rewards" in body  # remote_rm_fn asserts score_key in response
    assert torch.tensor(body["rewards"]).tolist() == [1.0, 1.0, 0.0]
    assert body["step_rewards"][2][-1] == 0.0


def test_openrlhf_in_process_reward_func(world):
    probs, oracle = world
    f = orl.make_reward_func(oracle, steps_preset="\n", outcome_weight=1.0, process_weight=0.5)
    p = probs[0]
    q = [p.question + "\n".join(reference_solution(p)), p.question + "\n".join(_wrong(p))]
    out = f(q, [p.question] * 2, [p.reference_answer] * 2)
    assert out["rewards"].tolist() == [1.5, 0.0]
    assert set(out) == {"rewards", "scores", "extra_logs"}
    with pytest.raises(PrmkitError, match="does not start"):
        f(["other"], [p.question], [None])


def test_example_reward_files_load_by_path_as_engines_do(monkeypatch):
    """verl (custom_reward_function.path) and OpenRLHF (--remote_rm_url file.py) import a file by path."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "examples" / "rl"
    monkeypatch.setenv("PRMKIT_REWARD_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PRMKIT_STEPS_PRESET", "\n")
    monkeypatch.setenv("PRMKIT_PROCESS_WEIGHT", "0.5")
    monkeypatch.setenv("PRMKIT_OUTCOME_WEIGHT", "1.0")

    class _FakeClient:  # stands in for the reward server the file points at
        urls: list[str] = []

        def __init__(self, base_url, *a, **k):
            _FakeClient.urls.append(base_url)

        def step_scores(self, problems, steps):
            return [[0.2 if "wrong" in s else 0.6 for s in ss] for ss in steps]

    monkeypatch.setattr("prmkit.serve.Client", _FakeClient)
    mods = {}
    for name in ("verl_reward.py", "openrlhf_reward_func.py"):
        spec = importlib.util.spec_from_file_location(name[:-3], root / name)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods[name] = mod
    assert mods["verl_reward.py"].compute_score is verl_ad.compute_score
    # the OpenRLHF file scores through the server it names, with the weights from the environment
    prompt = "Q: 2+2?\n"
    good, bad = "2+2=4\nThe answer is 4.", "2+2=5 wrong\nThe answer is 5."
    out = mods["openrlhf_reward_func.py"].reward_func([prompt + good, prompt + bad], [prompt] * 2, ["4", "4"])
    assert _FakeClient.urls == ["http://127.0.0.1:9"]
    # by hand: 0.5 * min(step scores) + 1.0 * (answer == label)
    assert out["rewards"].tolist() == pytest.approx([0.5 * 0.6 + 1.0, 0.5 * 0.2 + 0.0])
