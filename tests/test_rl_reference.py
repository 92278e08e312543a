"""prmkit's PURE and PRIME advantages against small re-implementations of the official code.

The two references below are written for this test from what the official code computes (its
formulas and behaviour, read in the repositories; no lines copied), in its own layout: token ids
with separator / EOS tokens, PRM logits, right padding, per-group loops. prmkit is called with its
defaults, which must reproduce them to 1e-6 on random groups (K in {2, 4, 8}, ragged lengths,
several steps, zero-length steps).

- PURE: CJReinforce/PURE, commit 41f9363b8cc4af044b7fc5f7f9bbbf62139e9553,
  ``openrlhf/trainer/ppo_utils/experience_maker.py`` (``generate_samples``: separator / EOS
  step ends; ``make_experience``: ``num_tokens_per_step``; ``process_experiences``: token and
  step baselines, verifiable reward on EOS; ``make_experience_list``: reverse cumulative sum,
  separator masking), ``openrlhf/utils/utils.py`` (``turn_process_reward_logits_to_reward``),
  ``openrlhf/trainer/ppo_utils/replay_buffer.py`` (``normalize``).
- PRIME: PRIME-RL/PRIME, commit 18ad596f08d487bb546d80d738d99ec697bd2e75,
  ``training/verl/workers/actor/dp_prime.py`` (token-level score = log-ratio, ``batch_norm``),
  ``training/verl/trainer/ppo/core_algos.py`` (``compute_rloo_returns``),
  ``training/verl/utils/torch_functional.py`` (``masked_whiten``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prmkit.rl import credit as C

PAD, SEP, EOS, WORD = 0, 1, 2, 5
TOL = 1e-6


# ---------------------------------------------------------------- PURE reference


def _pure_batch(rng: np.random.Generator, n_prompts: int, k: int) -> dict:
    """Random responses in PURE's token layout: steps of 0-4 word tokens, each followed by a
    separator, the last one by EOS (or, for some, truncated: the last token is a word)."""
    rows, n_steps = [], []
    for _ in range(n_prompts * k):
        s = int(rng.integers(1, 6))
        toks: list[int] = []
        for t in range(s):
            toks += [WORD] * int(rng.integers(0, 5))  # 0: a zero-length step
            toks.append(SEP if t < s - 1 else EOS)
        if rng.random() < 0.2 and len(toks) > 1 and toks[-2] != SEP:
            toks[-1] = WORD  # truncated response: no EOS, its last token ends the last step
        rows.append(toks)
        n_steps.append(s)
    length = max(len(r) for r in rows) + int(rng.integers(0, 3))
    ids = torch.full((len(rows), length), PAD)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    logits = torch.tensor(rng.normal(0, 2, size=(len(rows), max(n_steps), 2)))
    solved = torch.tensor(rng.integers(0, 2, size=len(rows)), dtype=torch.float64)
    return {"ids": ids, "action_mask": ids != PAD, "logits": logits, "solved": solved, "n_steps": n_steps}


def _pure_reference(
    b: dict,
    k: int,
    *,
    baseline: str,
    mask_sep: bool,
    normalize: bool,
    weighted: bool = True,
    vr_coef: float = 1.0,
    extra_len: int = 0,
) -> torch.Tensor:
    ids, am = b["ids"], b["action_mask"]
    n, length = ids.shape
    # step ends: every separator, and the last response token (EOS) for the last step
    ends = []
    for i in range(n):
        last = int(am[i].nonzero().max())
        ends.append([int(j) for j in (ids[i, :last] == SEP).nonzero().flatten()] + [last])
        assert len(ends[i]) == b["n_steps"][i]
    # process reward p(+) - p(-), then PURE's soft-min weights (or uniform ones)
    rewards_per_step = []
    for i in range(n):
        p = torch.softmax(b["logits"][i, : len(ends[i])], dim=-1)
        r = p[:, 1] - p[:, 0]
        w = torch.softmax(-r / 0.1, dim=0) if weighted else torch.full_like(r, 1 / len(r))
        rewards_per_step.append(w * r)
    resp_len = am.sum(-1).double()
    tok_r = torch.zeros(n, length, dtype=torch.float64)
    for i in range(n):
        grp = range((i // k) * k, (i // k) * k + k)
        others = [j for j in grp if j != i]
        if baseline == "token":
            per_tok = sum(rewards_per_step[j].sum() for j in others) / sum(resp_len[j] for j in others)
        else:
            avg = {j: rewards_per_step[j].sum() / len(ends[j]) for j in grp}
            base = sum(avg[j] for j in others) / (k - 1)
        prev = -1
        for t, e in enumerate(ends[i]):
            sub = per_tok * (e - prev - 1 + extra_len) if baseline == "token" else base
            tok_r[i, e] += rewards_per_step[i][t] - sub
            prev = e
        # verifiable reward solved - 1, RLOO within the group, on the last token
        v = b["solved"] - 1
        tok_r[i, ends[i][-1]] += vr_coef * (v[i] - sum(v[j] for j in others) / (k - 1))
    ret = torch.flip(torch.cumsum(torch.flip(tok_r, [1]), 1), [1])
    end_mask = torch.zeros(n, length, dtype=torch.bool)
    for i in range(n):
        end_mask[i, ends[i]] = True
    if mask_sep:
        ret = ret.masked_fill(end_mask, 0.0)
    if not normalize:
        return ret * am
    # replay-buffer normalisation over the unpadded responses of the whole batch
    vec = torch.cat([ret[i, am[i]] for i in range(n)])
    zeros = (vec == 0) if mask_sep else torch.zeros_like(vec, dtype=torch.bool)
    count = vec.numel() - int(zeros.sum())
    mean = vec.sum() / count
    rstd = (((vec - mean) ** 2).sum() / count).clamp(min=1e-8).rsqrt()
    out_vec = (vec - mean) * rstd
    if mask_sep:
        out_vec = out_vec.masked_fill(zeros, 0.0)
    out = torch.zeros(n, length, dtype=torch.float64)
    pos = 0
    for i in range(n):
        m = int(am[i].sum())
        out[i, :m] = out_vec[pos : pos + m]
        pos += m
    return out


def _pure_prmkit(b: dict, k: int, **kw) -> np.ndarray:
    ids, am = b["ids"], b["action_mask"]
    step_r, ends = [], []
    for i in range(ids.shape[0]):
        last = int(am[i].nonzero().max())
        e = [int(j) for j in (ids[i, :last] == SEP).nonzero().flatten()] + [last]
        p = torch.softmax(b["logits"][i, : len(e)], dim=-1)
        step_r.append((p[:, 1] - p[:, 0]).tolist())
        ends.append(e)
    return C.pure_advantages(step_r, ends, am.numpy(), k, outcome=(b["solved"] - 1).numpy(), **kw)


@pytest.mark.parametrize("k", [2, 4, 8])
@pytest.mark.parametrize("baseline", ["token", "step"])
def test_pure_defaults_match_official(k, baseline):
    for seed in range(4):
        b = _pure_batch(np.random.default_rng(100 * k + seed), 3, k)
        ref = _pure_reference(b, k, baseline=baseline, mask_sep=True, normalize=True)
        got = _pure_prmkit(b, k, baseline=baseline)
        np.testing.assert_allclose(got, ref.numpy(), atol=TOL)
        assert (got[b["ids"].numpy() == SEP] == 0).all()  # separators carry no advantage


@pytest.mark.parametrize("k", [2, 4, 8])
def test_pure_options_match_official_flags(k):
    for seed in range(3):
        b = _pure_batch(np.random.default_rng(7 + 10 * k + seed), 2, k)
        # --nomask_separator_adv: separators and EOS keep their advantages, all tokens normalised
        ref = _pure_reference(b, k, baseline="token", mask_sep=False, normalize=True)
        np.testing.assert_allclose(_pure_prmkit(b, k, mask_step_ends=False), ref.numpy(), atol=TOL)
        # --disable_advantage_normalization
        ref = _pure_reference(b, k, baseline="step", mask_sep=True, normalize=False, vr_coef=0.5)
        got = _pure_prmkit(b, k, baseline="step", whiten=False, outcome_coef=0.5)
        np.testing.assert_allclose(got, ref.numpy(), atol=TOL)
        # --disable_weighted_reward (uniform weights) = credit "sum" on r / n_steps
        ref = _pure_reference(b, k, baseline="token", mask_sep=True, normalize=True, weighted=False)
        am = b["action_mask"]
        step_r, ends = [], []
        for i in range(am.shape[0]):
            last = int(am[i].nonzero().max())
            e = [int(j) for j in (b["ids"][i, :last] == SEP).nonzero().flatten()] + [last]
            p = torch.softmax(b["logits"][i, : len(e)], dim=-1)
            step_r.append(((p[:, 1] - p[:, 0]) / len(e)).tolist())
            ends.append(e)
        got = C.pure_advantages(step_r, ends, am.numpy(), k, credit="sum", outcome=(b["solved"] - 1).numpy())
        np.testing.assert_allclose(got, ref.numpy(), atol=TOL)


def test_pure_reference_sees_the_old_deviations():
    """The comparison is sharp: counting each step's end token in its length (prmkit before the
    fix), or leaving separators unmasked, moves the advantages well beyond the tolerance."""
    k = 4
    b = _pure_batch(np.random.default_rng(3), 2, k)
    ref = _pure_reference(b, k, baseline="token", mask_sep=True, normalize=False).numpy()
    np.testing.assert_allclose(_pure_prmkit(b, k, whiten=False), ref, atol=TOL)
    counted = _pure_reference(b, k, baseline="token", mask_sep=True, normalize=False, extra_len=1).numpy()
    assert np.abs(counted - ref).max() > 0.01
    assert np.abs(_pure_prmkit(b, k, mask_step_ends=False, whiten=False) - ref).max() > 0.05


# ---------------------------------------------------------------- PRIME reference


def _prime_reference(
    log_ratio: torch.Tensor, mask: torch.Tensor, acc: torch.Tensor, k: int, gamma: float = 1.0
) -> torch.Tensor:
    n, length = log_ratio.shape
    score = torch.where(mask, log_ratio, torch.zeros_like(log_ratio))  # token granularity
    # prime_norm = batch_norm
    rev = torch.flip(torch.cumsum(torch.flip(score, [1]), 1), [1])
    score = score / (rev.abs().max() + 1e-6)
    # verifier score on the last valid token
    valid = mask.sum(-1)
    gt = torch.zeros(n, length, dtype=torch.float64)
    gt[torch.arange(n), valid - 1] = acc
    gt_mask = torch.zeros(n, length, dtype=torch.bool)
    gt_mask[torch.arange(n), valid - 1] = True
    total = torch.zeros(n, length, dtype=torch.float64)
    for src, m, g in ((score, mask, gamma), (gt, gt_mask, 1.0)):
        x = torch.where(m, src, torch.zeros_like(src))
        for g0 in range(0, n, k):
            means = torch.stack([x[i][m[i]].mean() for i in range(g0, g0 + k)])
            for i in range(g0, g0 + k):
                x[i, m[i]] = x[i, m[i]] * k / (k - 1) - means.sum() / (k - 1)
        d = torch.zeros_like(x)
        run = torch.zeros(n, dtype=torch.float64)
        for t in range(length - 1, -1, -1):
            run = x[:, t] + g * run
            d[:, t] = run
        total = total + d
    mf = mask.double()
    mean = (total * mf).sum() / mf.sum()
    var = (((total - mean) ** 2) * mf).sum() / mf.sum() * mf.sum() / (mf.sum() - 1)
    return ((total - mean) * torch.rsqrt(var + 1e-8)) * mf


@pytest.mark.parametrize("k", [2, 4, 8])
def test_prime_defaults_match_official(k):
    for seed in range(4):
        rng = np.random.default_rng(1000 + 10 * k + seed)
        n = 3 * k
        lens = rng.integers(1, 13, size=n)
        length = int(lens.max()) + int(rng.integers(0, 3))
        mask = torch.tensor(np.arange(length)[None, :] < lens[:, None])
        lp = torch.tensor(rng.normal(-2, 1, size=(n, length)))
        ref_lp = torch.tensor(rng.normal(-2, 1, size=(n, length)))
        acc = torch.tensor(rng.integers(0, 2, size=n), dtype=torch.float64)
        ref = _prime_reference(lp - ref_lp, mask, acc, k)
        tr = C.implicit_process_rewards(lp, ref_lp, mask, beta=1.0)
        got = C.prime_advantages(tr, mask, acc, k)
        assert isinstance(got, torch.Tensor)
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=TOL)
        # reward_model_gamma != 1
        ref9 = _prime_reference(lp - ref_lp, mask, acc, k, gamma=0.9)
        np.testing.assert_allclose(
            C.prime_advantages(tr, mask, acc, k, gamma=0.9).numpy(), ref9.numpy(), atol=TOL
        )
        # the old prmkit form (others' mean, no batch norm, no whitening) is not the official one
        old = C.prime_advantages(tr, mask, acc, k, rloo="others", batch_norm=False, whiten=False)
        assert np.abs(old.numpy() - ref.numpy()).max() > 0.05


def test_separator_step_ends_give_pures_layout():
    """PURE's step ends: every separator token, then the last token (EOS) for the last step."""
    from prmkit.models.tiny import train_tokenizer
    from prmkit.rl.align import separator_step_ends

    text = "3 x 2 = 6\n6 + 1 = 7\n\nThe answer is 7."
    tok = train_tokenizer([text] * 3 + ["Question: a\nSolution:\n"], vocab_size=300)
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    nl = tok("\n", add_special_tokens=False)["input_ids"]
    assert len(nl) == 1  # "\n" is one token here, so PURE's separator search applies
    steps, ends = separator_step_ends(ids[:-1], tok, "\n")
    ends[-1] = len(ids) - 1
    pure_ends = [i for i, t in enumerate(ids[:-1]) if t == nl[0]] + [len(ids) - 1]
    # the empty line between steps 2 and 3 is a zero-length step for PURE; prmkit's splitter
    # drops empty steps, so its step 2 ends on the second separator
    assert steps == ["3 x 2 = 6", "6 + 1 = 7", "The answer is 7."]
    assert ends == [pure_ends[0], pure_ends[2], pure_ends[3]]
