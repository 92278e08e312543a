"""TRL GRPOTrainer on the arithmetic world with prmkit rewards (a few minutes on a CPU).

Two reward functions, summed by TRL with ``reward_weights`` (the hybrid rule):
the verifiable outcome (final answer == reference) and the aggregated process score (min over
steps) from the world's exact checker (``arith-oracle``). Swap the oracle for a trained PRM
(``load_scorer(path=...)``) or a reward server URL (``"http://127.0.0.1:8000"``).

    python examples/rl/trl_grpo_arith.py --steps 4 --sft-epochs 2

The policy is a tiny causal LM, briefly fine-tuned on reference and noisy solutions first
(``--sft-epochs 0`` skips that; an untrained policy earns no reward).
"""

import argparse
import sys
import tempfile
from pathlib import Path

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from prmkit.models.tiny import build_tiny_model, train_tokenizer
from prmkit.rl.adapters.trl import make_outcome_reward_func, make_process_reward_func
from prmkit.scorers.oracle import ArithOracleScorer
from prmkit.worlds.arith import generate_problems, reference_solution

# the experiment's SFT helpers live with the benchmark script, not in the package
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from rl_credit_experiment import ExperimentConfig, compact_steps, prompt_text, sft, sft_texts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--problems", type=int, default=1500)
    ap.add_argument("--process-weight", type=float, default=0.5)
    ap.add_argument("--sft-epochs", type=float, default=2.0)
    a = ap.parse_args()
    probs = generate_problems(
        a.problems, seed=0, min_ops=2, max_ops=2, max_value=20, max_given=9, max_factor=3, distractors=False
    )
    texts = [prompt_text(p.question) + "\n".join(compact_steps(reference_solution(p))) for p in probs]
    tok = train_tokenizer(texts, vocab_size=400)
    model = build_tiny_model("causal-lm", tok, hidden_size=96, num_layers=2, max_position_embeddings=512)
    if a.sft_epochs > 0:
        cfg = ExperimentConfig(sft_epochs=a.sft_epochs, quiet=True)
        print(sft(cfg, sft_texts(cfg, probs), tok, model))
    ds = Dataset.from_list(
        [
            {"prompt": prompt_text(p.question), "problem": p.question, "answer": p.reference_answer}
            for p in probs
        ]
    )
    oracle = ArithOracleScorer(probs, partial=False)
    rewards = [make_outcome_reward_func("answer"), make_process_reward_func(oracle, steps_preset="\n")]
    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="prmkit-trl-"),
        max_steps=a.steps,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=32,
        temperature=0.7,
        learning_rate=1e-4,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        reward_weights=[1.0, a.process_weight],
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=rewards, args=args, train_dataset=ds, processing_class=tok
    )
    trainer.train()
    for row in trainer.state.log_history:
        if "reward" in row:
            print({k: round(v, 4) for k, v in row.items() if "reward" in k})


if __name__ == "__main__":
    main()
