#!/usr/bin/env bash
# OpenRLHF PPO/REINFORCE++ with a prmkit PRM as the remote reward model.
# 1. serve the PRM; OpenRLHF posts {"query": [prompt+response], "prompts": [...], "labels": [...]}
#    to /get_reward and reads "rewards" (aggregated step scores, --aggregation):
#      prmkit serve --prm runs/prm --host 0.0.0.0 --port 8000 --aggregation min --steps-preset $'\n\n' \
#        --query-delimiter '<|im_start|>assistant\n' &
# 2. train:
set -euo pipefail
ray job submit --address="${RAY_ADDRESS:-http://127.0.0.1:8265}" -- python3 -m openrlhf.cli.train_ppo_ray \
  --pretrain "${MODEL:-Qwen/Qwen2.5-Math-1.5B}" \
  --remote_rm_url "http://${RM_HOST:-127.0.0.1}:${RM_PORT:-8000}/get_reward" \
  --prompt_data "${DATA:-data/train.jsonl}" --input_key prompt --label_key answer --apply_chat_template \
  --advantage_estimator reinforce_baseline --n_samples_per_prompt 4 \
  --micro_train_batch_size 4 --train_batch_size 128 --micro_rollout_batch_size 8 --rollout_batch_size 128 \
  --max_epochs 1 --prompt_max_len 512 --generate_max_len 1024 --actor_learning_rate 5e-7 \
  --init_kl_coef 0.001 --vllm_num_engines 1 --vllm_tensor_parallel_size 1 "$@"
# In-process alternative (no HTTP): --remote_rm_url examples/rl/openrlhf_reward_func.py
