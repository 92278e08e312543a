"""Where do a generative verifier's wrong verdicts come from? (issue 19, the attribution of
``benchmarks/generative_verifier.md``, sixth session.)

For each verifier, the greedy chains on the benchmark's held-out solutions are compared line by
line with the checker's chains (``prmkit.worlds.arith_verify.verification_chain``) in the format
the verifier was trained on (``--lookup``, as the benchmark's). Every solution whose predicted first error is wrong (a correct solution flagged,
an error missed, found early or late) is attributed to the part of the first line that departs
from the checker's: ``lookup``, ``restate``, ``structure``, ``recompute``, ``difference``,
``answer``, ... (``generative_verifier.divergence``). Also reported: greedy F1 and the first
errors caught by the policy's error kind.

Run: .venv/bin/python benchmarks/generative_verifier_divergence.py runs/bench-generative/longtag ...
     .venv/bin/python benchmarks/generative_verifier_divergence.py --lookup is runs/bench-generative/isbig ...
Writes (updates) benchmarks/results/generative_verifier_divergence.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generative_verifier import by_kind, diagnostic_setup, divergences, f1_of  # noqa: E402
from prmkit.evaluate.processbench import predict_first_error  # noqa: E402
from prmkit.models.tokenizer import load_tokenizer  # noqa: E402
from prmkit.scorers.generative import GenerativeScorer  # noqa: E402
from prmkit.worlds.arith_verify import verification_chain  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def attribute(path: str, bench) -> dict:
    """Greedy F1, caught first errors by kind and the divergence table of one verifier."""
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    scorer = GenerativeScorer(model, load_tokenizer(path), k=1, temperature=0.0)
    chains = scorer.sample([r.problem for r in bench], [r.steps for r in bench])
    scores = [scorer.scores_of(c) for c in chains]
    preds = [predict_first_error(s) for s in scores]
    return {"greedy": f1_of(scores, [int(r.first_error) for r in bench]), "by_kind": by_kind(bench, preds),
            "divergence": divergences(bench, chains, preds),
            "chain_format": verification_chain(bench[0], bench[0].steps).splitlines()[0]}  # fmt: skip


def main() -> None:
    args, bench, out_path, out = diagnostic_setup(__doc__, "generative_verifier_divergence")
    for path in args.verifiers:
        name = Path(path).name
        out.setdefault("verifiers", {})[name] = {"lookup": args.lookup, **attribute(path, bench)}
        out_path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(json.dumps({name: out["verifiers"][name]}), flush=True)


if __name__ == "__main__":
    main()
