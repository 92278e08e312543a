"""RL with process rewards on the embedded arithmetic world: outcome vs sum-form vs min-form.

A research script (not part of the prmkit package): writes benchmarks/results/rl_experiment.json
and docs/rl_experiment.png (see docs/rl.md).

    python benchmarks/rl_credit_experiment.py            # default (~10-15 min on 2 shared cores)
    python benchmarks/rl_credit_experiment.py --tiny     # < 60 s smoke run (numbers meaningless)
    python benchmarks/rl_credit_experiment.py --arms outcome,sum,min,hybrid --rl-steps 40

A tiny causal LM (:func:`prmkit.models.tiny.build_tiny_model`) is trained by supervised
fine-tuning on arithmetic-world solutions (reference solutions plus noisy
:class:`~prmkit.worlds.arith_policy.ArithPolicy` ones, so it makes errors), then improved by
GRPO-style on-policy RL with a small reference loop (:func:`rl_loop`), once per reward arm:

- ``outcome``: verifiable reward ``o = 1[final answer correct]``, GRPO group normalisation;
- ``sum``: process reward, sum-form credit (``G_t = sum_{t'>=t} r_t'``), PURE token RLOO baseline;
- ``min``: process reward, PURE min-form credit (soft-min transform, ``T = 0.1``), same baseline;
  both through :func:`prmkit.rl.credit.pure_advantages` with PURE's defaults (step ends on the
  separator / EOS tokens, whose advantage is 0, and PURE's batch normalisation);
- ``hybrid`` (optional): ``0.5 o + 0.5 min_t p_t``, GRPO normalisation (sequence level).

The process reward is the world's exact checker (the ``arith-oracle`` scorer, ``partial=False``:
a solution without a final answer is wrong): ``p_t in {0, 1}`` (0 from the first error on), used
PURE style as ``r_t = 2 p_t - 1 in {-1, +1}``. Indicators tracked over training (greedy decoding
on held-out problems, judged by :func:`prmkit.worlds.arith.check_steps`): accuracy, process
accuracy (no wrong step), solution length (steps, tokens), miracle rate (right answer after a
wrong step) and the fraction of wrong steps.

Example (from the repository root, ``benchmarks`` on ``sys.path``)::

    from rl_credit_experiment import ExperimentConfig, run_experiment
    res = run_experiment(ExperimentConfig.tiny())
    res["arms"]["min"]["final"]["accuracy"]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prmkit.errors import PrmkitError
from prmkit.models.tiny import build_tiny_model, train_tokenizer
from prmkit.progress import track
from prmkit.rl.align import separator_step_ends, step_token_ends
from prmkit.rl.credit import group_normalize, hybrid_advantages, pure_advantages
from prmkit.worlds.arith import check_steps, generate_problems, reference_solution
from prmkit.worlds.arith_policy import ArithPolicy

ARMS = ("outcome", "sum", "min", "hybrid", "exact-min", "trl-hybrid")


@dataclass
class ExperimentConfig:
    """Knobs of :func:`run_experiment` (defaults: ~10 min on one shared CPU core).

    Example:
        >>> ExperimentConfig.tiny().rl_steps < ExperimentConfig().rl_steps
        True
    """

    seed: int = 0
    arms: list[str] = field(default_factory=lambda: ["outcome", "sum", "min", "hybrid", "trl-hybrid"])
    # world
    n_sft_problems: int = 2500
    n_rl_problems: int = 400
    n_eval_problems: int = 256
    min_ops: int = 2
    max_ops: int = 2
    max_value: int = 20
    max_given: int = 9
    max_factor: int = 3
    # SFT data: references + noisy samples per problem
    noisy_per_problem: int = 1
    noisy_error_rate: float = 0.35
    # fraction of SFT solutions with one correct step repeated (a redundant but "correct" step)
    redundant_rate: float = 0.15
    # model
    vocab_size: int = 400
    hidden_size: int = 96
    num_layers: int = 2
    num_heads: int = 4
    # SFT
    sft_epochs: float = 2.0
    sft_batch_size: int = 32
    sft_lr: float = 3e-3
    # RL
    rl_steps: int = 80
    prompts_per_step: int = 8
    group_size: int = 4
    rl_lr: float = 1e-4
    temperature: float = 0.7
    max_new_tokens: int = 32
    soft_min_temperature: float = 0.1
    eval_every: int = 20
    threads: int = 1
    quiet: bool = False

    @classmethod
    def tiny(cls) -> ExperimentConfig:
        """A < 60 s smoke configuration (numbers are meaningless, the plumbing is real)."""
        return cls(
            arms=["outcome", "sum", "min"],
            n_sft_problems=150,
            n_rl_problems=16,
            n_eval_problems=8,
            noisy_per_problem=1,
            hidden_size=32,
            num_layers=1,
            sft_epochs=1.0,
            rl_steps=2,
            prompts_per_step=2,
            group_size=2,
            max_new_tokens=24,
            eval_every=2,
            quiet=True,
        )


# ---------------------------------------------------------------- world and data


def _problems(cfg: ExperimentConfig, n: int, seed: int) -> list:
    return generate_problems(
        n,
        seed=seed,
        min_ops=cfg.min_ops,
        max_ops=cfg.max_ops,
        max_value=cfg.max_value,
        max_given=cfg.max_given,
        max_factor=cfg.max_factor,
        distractors=False,
        id_prefix="rlx",
    )


def prompt_text(question: str) -> str:
    """The policy's prompt for a problem (the response follows; steps are separated by newlines)."""
    return f"Question: {question}\nSolution:\n"


_EQ = re.compile(r"(\d+ [-+x*/] \d+ = \d+)")


def compact_steps(steps: Sequence[str]) -> list[str]:
    """Keep only the equation of each step (``12 + 17 = 29``) and the answer step: short
    sequences keep a CPU experiment cheap; the checker judges equation-only steps the same way.

    Example:
        >>> compact_steps(["She has 3 bags of 5, so 3 x 5 = 15 candies.", "The answer is 15."])
        ['3 x 5 = 15', 'The answer is 15.']
    """
    out = []
    for s in steps:
        m = _EQ.search(s)
        out.append(m.group(1) if m and not s.startswith("The answer") else s)
    return out


def sft_texts(cfg: ExperimentConfig, problems: Sequence[Any]) -> list[tuple[str, str]]:
    """(prompt, response) pairs: each problem's reference solution plus noisy ArithPolicy samples.

    A ``redundant_rate`` fraction of the reference solutions repeat one of their equations: the
    checker judges the repeat correct (known operands, a quantity of the problem), so a policy
    that learned the habit can pad solutions with "correct" steps, the behaviour sum-form
    credit rewards and min-form credit does not (PURE's reward-hacking case).
    """
    pol = ArithPolicy(error_rate=cfg.noisy_error_rate, diversity=0.0)
    rng = random.Random(cfg.seed + 7)
    pairs = []
    for p in problems:
        steps = compact_steps(reference_solution(p))
        if len(steps) > 1 and rng.random() < cfg.redundant_rate:
            j = rng.randrange(len(steps) - 1)
            steps = steps[: j + 1] + [steps[j]] + steps[j + 1 :]
        pairs.append((prompt_text(p.question), "\n".join(steps)))
    if cfg.noisy_per_problem:
        gens = pol.sample(list(problems), n=cfg.noisy_per_problem, seed=cfg.seed)
        for p, gs in zip(problems, gens, strict=True):
            for g in gs:
                pairs.append((prompt_text(p.question), "\n".join(compact_steps(g.steps))))
    return pairs


# ---------------------------------------------------------------- model helpers


def _encode_pairs(tok: Any, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], int]]:
    out = []
    for prompt, resp in pairs:
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        r = tok(resp, add_special_tokens=False)["input_ids"]
        out.append((p + r + [tok.eos_token_id], len(p)))
    return out


def sft(cfg: ExperimentConfig, pairs: Sequence[tuple[str, str]], tok: Any, model: Any) -> dict[str, float]:
    """Supervised fine-tuning on the responses (prompt tokens are not trained on)."""
    data = _encode_pairs(tok, pairs)
    rng = random.Random(cfg.seed)
    n_steps = max(1, int(math.ceil(len(data) * cfg.sft_epochs / cfg.sft_batch_size)))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.sft_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 1 - s / n_steps)
    )
    model.train()
    order: list[int] = []
    losses = []
    for _ in track(range(n_steps), description="SFT", total=n_steps, quiet=cfg.quiet):
        if len(order) < cfg.sft_batch_size:
            more = list(range(len(data)))
            rng.shuffle(more)
            order += more
        idx, order = order[: cfg.sft_batch_size], order[cfg.sft_batch_size :]
        batch = [data[i] for i in idx]
        length = max(len(x) for x, _ in batch)
        ids = torch.full((len(batch), length), tok.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), length), -100, dtype=torch.long)
        att = torch.zeros((len(batch), length), dtype=torch.long)
        for i, (x, plen) in enumerate(batch):
            ids[i, : len(x)] = torch.tensor(x)
            labels[i, plen : len(x)] = torch.tensor(x[plen:])
            att[i, : len(x)] = 1
        loss = model(input_ids=ids, attention_mask=att, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return {"sft_steps": n_steps, "sft_final_loss": sum(losses[-10:]) / len(losses[-10:])}


def generate(
    model: Any,
    tok: Any,
    prompts: Sequence[str],
    *,
    n: int = 1,
    greedy: bool = False,
    temperature: float = 1.0,
    max_new_tokens: int = 48,
    seed: int = 0,
) -> list[list[int]]:
    """Sample ``n`` responses per prompt (response token ids, EOS included when produced)."""
    enc = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts for _ in range(n)]
    length = max(len(x) for x in enc)
    ids = torch.full((len(enc), length), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros((len(enc), length), dtype=torch.long)
    for i, x in enumerate(enc):  # left padding for generation
        ids[i, length - len(x) :] = torch.tensor(x)
        att[i, length - len(x) :] = 1
    torch.manual_seed(seed)
    model.eval()
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=att,
            do_sample=not greedy,
            temperature=temperature if not greedy else None,
            top_k=0 if not greedy else None,
            top_p=1.0 if not greedy else None,
            max_new_tokens=max_new_tokens,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
    res = []
    for row in out[:, length:].tolist():
        if tok.eos_token_id in row:
            row = row[: row.index(tok.eos_token_id) + 1]
        else:
            row = [t for t in row if t != tok.pad_token_id]
        res.append(row)
    return res


def judge(problem: Any, steps: list[str]) -> dict[str, Any]:
    """Exact-checker verdict of one response: answer/process correctness, miracle, wrong steps."""
    chk = check_steps(problem, steps, partial=False)
    wrong = sum(1 for c in chk.correct if not c)
    return {
        "answer_correct": bool(chk.answer_correct),
        "process_correct": chk.first_error < 0,
        "miracle": bool(chk.answer_correct) and chk.first_error >= 0,
        "wrong_steps": wrong,
        "n_steps": len(steps),
        "repeats": len(steps) - len(set(steps)),
        "step_scores": [1.0] * len(steps)
        if chk.first_error < 0
        else [1.0] * chk.first_error + [0.0] * (len(steps) - chk.first_error),
    }


def evaluate(model: Any, tok: Any, problems: Sequence[Any], cfg: ExperimentConfig) -> dict[str, float]:
    """Greedy decoding on ``problems``; accuracy and reward-hacking indicators."""
    outs = generate(
        model,
        tok,
        [prompt_text(p.question) for p in problems],
        greedy=True,
        max_new_tokens=cfg.max_new_tokens,
    )
    rows = []
    n_tok = 0
    for p, ids in zip(problems, outs, strict=True):
        body = ids[:-1] if ids and ids[-1] == tok.eos_token_id else ids
        steps, _ = step_token_ends(body or [tok.pad_token_id], tok, "\n")
        rows.append(judge(p, steps))
        n_tok += len(ids)
    n = len(rows)
    tot_steps = sum(r["n_steps"] for r in rows)
    return {
        "accuracy": sum(r["answer_correct"] for r in rows) / n,
        "process_accuracy": sum(r["process_correct"] for r in rows) / n,
        "miracle_rate": sum(r["miracle"] for r in rows) / n,
        "wrong_step_fraction": sum(r["wrong_steps"] for r in rows) / max(1, tot_steps),
        "repeat_rate": sum(r["repeats"] > 0 for r in rows) / n,
        "mean_steps": tot_steps / n,
        "mean_tokens": n_tok / n,
    }


# ---------------------------------------------------------------- RL


def _advantages(
    arm: str, rows: list[dict], ends: list[list[int]], resp_mask: Any, cfg: ExperimentConfig
) -> Any:
    """Token advantages [B, L] for one arm (see the module docstring)."""
    k = cfg.group_size
    outcome = np.array([float(r["answer_correct"]) for r in rows])
    if arm == "outcome":
        return group_normalize(outcome, k)[:, None] * resp_mask
    if arm == "hybrid":
        proc = np.array([min(r["step_scores"]) for r in rows])
        return hybrid_advantages(outcome, proc, k, response_mask=resp_mask)
    step_r = [[2.0 * s - 1.0 for s in r["step_scores"]] for r in rows]
    credit = {"sum": "sum", "min": "soft-min", "exact-min": "exact-min"}[arm]
    adv = pure_advantages(
        step_r, ends, resp_mask, k, credit=credit, temperature=cfg.soft_min_temperature, baseline="token"
    )
    # one scale for every arm (PURE's normalisation leaves the masked step ends at 0, so the std
    # over all response tokens is a little below 1; GRPO advantages are unit-scaled per group)
    std = float(adv[resp_mask.astype(bool)].std()) if resp_mask.any() else 0.0
    return adv / (std + 1e-4)


def rl_loop(
    arm: str,
    model: Any,
    tok: Any,
    rl_problems: Sequence[Any],
    eval_problems: Sequence[Any],
    cfg: ExperimentConfig,
    initial_eval: dict[str, float] | None = None,
) -> dict[str, Any]:
    """On-policy GRPO-style RL with token-level credit (one gradient step per batch, so the
    importance ratio is 1 and the PPO clip is inactive; no KL term, as PRIME's KL coef 0).

    Loss: ``-sum_tokens(A * log pi(token)) / #tokens`` over the batch.
    """
    if arm not in ARMS or arm == "trl-hybrid":
        raise PrmkitError(
            f"unknown arm {arm!r} for the reference loop; known: {', '.join(ARMS[:-1])}", field="arms"
        )
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.rl_lr, weight_decay=0.0)
    history = [{"step": 0, **(initial_eval or evaluate(model, tok, eval_problems, cfg))}]
    train_log = []
    pos = 0
    t0 = time.perf_counter()
    for step in track(
        range(1, cfg.rl_steps + 1), description=f"RL {arm}", total=cfg.rl_steps, quiet=cfg.quiet
    ):
        batch = [rl_problems[(pos + i) % len(rl_problems)] for i in range(cfg.prompts_per_step)]
        pos += cfg.prompts_per_step
        prompts = [prompt_text(p.question) for p in batch]
        responses = generate(
            model,
            tok,
            prompts,
            n=cfg.group_size,
            temperature=cfg.temperature,
            max_new_tokens=cfg.max_new_tokens,
            seed=cfg.seed * 100003 + step,
        )
        rows, ends = [], []
        for i, ids in enumerate(responses):
            p = batch[i // cfg.group_size]
            body = ids[:-1] if ids and ids[-1] == tok.eos_token_id else ids
            # PURE's layout: each step ends on its separator, the last one on EOS (or on the last
            # token of a truncated response), as pure_advantages reproduces PURE with
            steps, e = separator_step_ends(body or [tok.pad_token_id], tok, "\n")
            e[-1] = max(len(ids) - 1, 0)
            rows.append(judge(p, steps))
            ends.append(e)
        # token tensors: prompt + response, loss on response tokens only
        p_ids = [
            tok(pr, add_special_tokens=False)["input_ids"] for pr in prompts for _ in range(cfg.group_size)
        ]
        resp_len = max(max(len(r) for r in responses), 1)
        full_len = max(len(a) for a in p_ids) + resp_len
        b = len(responses)
        ids_t = torch.full((b, full_len), tok.pad_token_id, dtype=torch.long)
        att = torch.zeros((b, full_len), dtype=torch.long)
        resp_mask = np.zeros((b, resp_len), dtype=np.float64)
        starts = []
        for i, (pp, rr) in enumerate(zip(p_ids, responses, strict=True)):
            seq = pp + rr
            ids_t[i, : len(seq)] = torch.tensor(seq)
            att[i, : len(seq)] = 1
            resp_mask[i, : len(rr)] = 1.0
            starts.append(len(pp))
        adv = _advantages(arm, rows, ends, resp_mask, cfg)
        model.train()
        logits = model(input_ids=ids_t, attention_mask=att).logits
        logp_all = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        tgt = ids_t[:, 1:]
        tok_logp = logp_all.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)  # [B, full_len-1]
        resp_logp = torch.zeros((b, resp_len))
        for i, s in enumerate(starts):
            n = int(resp_mask[i].sum())
            resp_logp[i, :n] = tok_logp[i, s - 1 : s - 1 + n]
        a_t = torch.as_tensor(adv, dtype=torch.float32)
        m_t = torch.as_tensor(resp_mask, dtype=torch.float32)
        loss = -(a_t * resp_logp * m_t).sum() / m_t.sum().clamp(min=1.0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        train_log.append(
            {
                "step": step,
                "train_accuracy": sum(r["answer_correct"] for r in rows) / b,
                "train_process_accuracy": sum(r["process_correct"] for r in rows) / b,
                "train_mean_steps": sum(r["n_steps"] for r in rows) / b,
                "train_mean_tokens": float(resp_mask.sum()) / b,
                "train_miracle_rate": sum(r["miracle"] for r in rows) / b,
                "train_repeat_rate": sum(r["repeats"] > 0 for r in rows) / b,
            }
        )
        if step % cfg.eval_every == 0 or step == cfg.rl_steps:
            history.append({"step": step, **evaluate(model, tok, eval_problems, cfg)})
    return {"eval": history, "train": train_log, "final": history[-1], "seconds": time.perf_counter() - t0}


def trl_loop(
    model: Any,
    tok: Any,
    rl_problems: Sequence[Any],
    eval_problems: Sequence[Any],
    cfg: ExperimentConfig,
    initial_eval: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The ``hybrid`` rule through TRL's ``GRPOTrainer`` (sequence-level rewards are all TRL
    needs): outcome reward + 0.5 * min-aggregated oracle process score via ``reward_weights``.
    Same prompts per step, group size, learning rate and steps as :func:`rl_loop`."""
    import tempfile

    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from prmkit.rl.adapters.trl import make_outcome_reward_func, make_process_reward_func
    from prmkit.scorers.oracle import ArithOracleScorer

    history = [{"step": 0, **(initial_eval or evaluate(model, tok, eval_problems, cfg))}]
    n = cfg.rl_steps * cfg.prompts_per_step
    rows = [rl_problems[i % len(rl_problems)] for i in range(n)]
    ds = Dataset.from_list(
        [
            {"prompt": prompt_text(p.question), "problem": p.question, "answer": p.reference_answer}
            for p in rows
        ]
    )
    oracle = ArithOracleScorer(rl_problems, partial=False)
    rewards = [make_outcome_reward_func("answer"), make_process_reward_func(oracle, steps_preset="\n")]

    class _EvalCallback(TrainerCallback):
        """Same greedy evaluation schedule as the reference loop."""

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            if state.global_step % cfg.eval_every == 0 and state.global_step < cfg.rl_steps:
                history.append({"step": state.global_step, **evaluate(model, tok, eval_problems, cfg)})

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="prmkit-trl-") as out:
        args = GRPOConfig(
            output_dir=out,
            max_steps=cfg.rl_steps,
            per_device_train_batch_size=cfg.prompts_per_step * cfg.group_size,
            num_generations=cfg.group_size,
            max_completion_length=cfg.max_new_tokens,
            learning_rate=cfg.rl_lr,
            lr_scheduler_type="constant",
            weight_decay=0.0,
            temperature=cfg.temperature,
            beta=0.0,
            logging_steps=1,
            report_to=[],
            save_strategy="no",
            use_cpu=True,
            bf16=False,
            seed=cfg.seed,
            shuffle_dataset=False,
            reward_weights=[1.0, 0.5],
            disable_tqdm=cfg.quiet,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=rewards,
            args=args,
            train_dataset=ds,
            processing_class=tok,
            callbacks=[_EvalCallback()],
        )
        trainer.train()
    train_log = [
        {"step": int(r["step"]), "train_reward": float(r["reward"])}
        for r in trainer.state.log_history
        if "reward" in r and "step" in r
    ]
    history.append({"step": cfg.rl_steps, **evaluate(trainer.model, tok, eval_problems, cfg)})
    return {"eval": history, "train": train_log, "final": history[-1], "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------- driver


def run_experiment(
    cfg: ExperimentConfig, out_json: str | Path | None = None, plot_path: str | Path | None = None
) -> dict[str, Any]:
    """SFT once, then one RL run per arm from the same SFT checkpoint; returns (and writes) results."""
    for a in cfg.arms:
        if a not in ARMS:
            raise PrmkitError(f"unknown arm {a!r}; known: {', '.join(ARMS)}", field="arms")
    torch.set_num_threads(max(1, cfg.threads))
    t0 = time.perf_counter()
    sft_probs = _problems(cfg, cfg.n_sft_problems, cfg.seed)
    rl_probs = _problems(cfg, cfg.n_rl_problems, cfg.seed + 1)
    eval_probs = _problems(cfg, cfg.n_eval_problems, cfg.seed + 2)
    pairs = sft_texts(cfg, sft_probs)
    tok = train_tokenizer([p + r for p, r in pairs], vocab_size=cfg.vocab_size)
    model = build_tiny_model(
        "causal-lm",
        tok,
        seed=cfg.seed,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        max_position_embeddings=512,
    )
    sft_info = sft(cfg, pairs, tok, model)
    sft_eval = evaluate(model, tok, eval_probs, cfg)
    sft_seconds = time.perf_counter() - t0
    state = copy.deepcopy(model.state_dict())
    arms: dict[str, Any] = {}
    for arm in cfg.arms:
        model.load_state_dict(state)
        torch.manual_seed(cfg.seed)
        if arm == "trl-hybrid":
            arms[arm] = trl_loop(model, tok, rl_probs, eval_probs, cfg, initial_eval=sft_eval)
        else:
            arms[arm] = rl_loop(arm, model, tok, rl_probs, eval_probs, cfg, initial_eval=sft_eval)
    result = {
        "config": asdict(cfg),
        "process_reward": "arith-oracle (exact checker, partial=False), r_t = 2 p_t - 1",
        "sft": {**sft_info, "eval": sft_eval, "seconds": sft_seconds, "n_pairs": len(pairs)},
        "arms": arms,
        "total_seconds": time.perf_counter() - t0,
        "versions": {"torch": torch.__version__},
    }
    if out_json is not None:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    if plot_path is not None:
        plot_results(result, plot_path)
    return result


def plot_results(result: dict[str, Any], path: str | Path) -> None:
    """Accuracy, process accuracy, length and miracle rate per arm over RL steps (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        ("accuracy", "answer accuracy"),
        ("process_accuracy", "process accuracy (no wrong step)"),
        ("miracle_rate", "miracle rate (right answer, wrong step)"),
        ("mean_steps", "solution length (steps)"),
        ("mean_tokens", "solution length (tokens)"),
        ("repeat_rate", "solutions with a repeated step"),
    ]
    fig, grid = plt.subplots(2, 3, figsize=(13, 6.5))
    axes = list(grid.ravel())
    for ax, (k, title) in zip(axes, keys, strict=True):
        for arm, r in result["arms"].items():
            xs = [h["step"] for h in r["eval"]]
            ax.plot(xs, [h[k] for h in r["eval"]], marker="o", label=arm)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("RL step")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- command line

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="smoke configuration (< 60 s)")
    ap.add_argument("--arms", default=None, help="comma-separated: outcome,sum,min,hybrid,exact-min")
    ap.add_argument("--rl-steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/rl_experiment[_tiny].json)"
    )
    ap.add_argument(
        "--plot", default=None, help="PNG path (default docs/rl_experiment.png; none with --tiny)"
    )
    a = ap.parse_args(argv)
    results = ROOT / "benchmarks" / "results"
    if a.out is None:  # a smoke run never overwrites the measured results
        a.out = str(results / ("rl_experiment_tiny.json" if a.tiny else "rl_experiment.json"))
    if a.plot is None and not a.tiny:
        a.plot = str(ROOT / "docs" / "rl_experiment.png")
    cfg = ExperimentConfig.tiny() if a.tiny else ExperimentConfig()
    if a.arms:
        cfg.arms = [x.strip() for x in a.arms.split(",") if x.strip()]
    for k in ("rl_steps", "seed", "threads"):
        if getattr(a, k) is not None:
            setattr(cfg, k, getattr(a, k))
    res = run_experiment(cfg, out_json=a.out, plot_path=a.plot or None)
    summary = {
        "sft": res["sft"]["eval"],
        **{arm: r["final"] for arm, r in res["arms"].items()},
        "total_seconds": round(res["total_seconds"], 1),
    }
    print(json.dumps(summary, indent=1))
    return res


if __name__ == "__main__":
    main()
