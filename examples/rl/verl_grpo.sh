#!/usr/bin/env bash
# GRPO in verl with a prmkit process reward (sequence level: score = outcome + w * min step score).
# 1. serve the PRM (a trained checkpoint, or a model-free scorer such as `calculator`):
#      prmkit serve --prm runs/prm --host 0.0.0.0 --port 8000 --steps-preset $'\n\n' &
# 2. train (verl >= 0.3 style Hydra overrides; data: parquet with prompt, reward_model.ground_truth,
#    extra_info.question):
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
python3 -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  data.train_files="${TRAIN:-data/train.parquet}" data.val_files="${VAL:-data/test.parquet}" \
  data.train_batch_size=256 data.max_prompt_length=512 data.max_response_length=1024 \
  actor_rollout_ref.model.path="${MODEL:-Qwen/Qwen2.5-Math-1.5B}" \
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=4 \
  custom_reward_function.path="$HERE/verl_reward.py" \
  custom_reward_function.name=compute_score \
  +custom_reward_function.reward_kwargs.reward_url="${PRMKIT_REWARD_URL:-http://127.0.0.1:8000}" \
  +custom_reward_function.reward_kwargs.steps_preset=$'\n\n' \
  +custom_reward_function.reward_kwargs.aggregation=min \
  +custom_reward_function.reward_kwargs.process_weight=0.5 \
  +custom_reward_function.reward_kwargs.outcome_weight=1.0 \
  trainer.n_gpus_per_node="${GPUS:-8}" trainer.nnodes=1 "$@"
# Token-level process credit (PURE min-form) instead: use prmkit.rl.adapters.verl.PrmkitRewardManager
# as the reward manager (see docs/rl.md) with a token-level estimator (e.g. reinforce_plus_plus).
