"""The SmolLM2 GSM8K search example (examples/search_smollm2_gsm8k.py) with a stub policy.

The real-model run is not part of the suite; this checks the plumbing: the three outputs, the
per-method table, majority/best-of-N sharing one set of samples, grading, and the resume cache.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from prmkit.errors import PrmkitError
from prmkit.policies.base import Generation, Policy

ROOT = Path(__file__).resolve().parents[1]


def load_example():
    spec = importlib.util.spec_from_file_location(
        "search_smollm2_gsm8k", ROOT / "examples" / "search_smollm2_gsm8k.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class ScriptedPolicy(Policy):
    """Sample j follows a right script (j < 3) or a wrong one (j == 3) with a false claim.

    The right script states ``"The answer is: Tom has R apples."`` (strict grading fails on it).
    A prefix continues the script it started.
    """

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def script(ref: str, right: bool) -> list[str]:
        r = int(ref)
        if right:
            return [f"First {r} - 1 + 1 = {r}.", f"The answer is: Tom has {r} apples."]
        return [f"First {r} + 1 = {r}.", f"The answer is {r + 1}."]

    def continue_from(self, problems, prefixes, n, *, max_steps=None, seed=0):
        self.calls += 1
        out = []
        for p, prefix in zip(problems, prefixes, strict=True):
            gens = []
            for j in range(n):
                right = j < 3
                if prefix:
                    right = prefix[0] == self.script(p.reference_answer, True)[0]
                rest = self.script(p.reference_answer, right)[len(prefix) :]
                new = rest[:max_steps] if max_steps else rest
                gens.append(Generation(new, finished=len(new) == len(rest), num_tokens=5 * len(new)))
            out.append(gens)
        return out


def write_gsm8k(path: Path) -> None:
    rows = [
        {"question": "Tom has 2 apples and buys 3. How many?", "answer": "2+3=<<2+3=5>>5\n#### 5"},
        {"question": "Ann has 1,000 apples and eats 1. How many?", "answer": "1000-1=999\n#### 999"},
        {"question": "Not used.", "answer": "#### 1"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_example_main_writes_table_rows_and_cache(tmp_path, capsys):
    ex = load_example()
    data = tmp_path / "test.jsonl"
    write_gsm8k(data)
    out = tmp_path / "res" / "search.json"
    argv = [
        "--data",
        str(data),
        "--n-problems",
        "2",
        "--n",
        "4",
        "--width",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    pol = ScriptedPolicy()
    assert ex.main(argv, policy=pol) == 0
    assert "| majority |" in capsys.readouterr().out

    summary = json.loads(out.read_text())
    assert summary["problems_done"] == 2
    assert summary["settings"]["n"] == 4 and summary["settings"]["width"] == 2
    assert summary["machine"]["threads"] == 1
    m = summary["methods"]
    # 3 right samples of 4: majority, min-scored best-of-N, weighted vote and beam all get it right
    for name in ("majority", "best-of-n", "weighted-vote", "beam"):
        assert m[name]["accuracy"] == 1.0, name
        assert m[name]["problems"] == 2
    # the stated "Tom has 5 apples" is not "5" for the strict grader: only the wrong sample "6"
    # has a bare number, and it is wrong
    assert m["best-of-n"]["accuracy_strict"] == 0.0
    assert m["single-sample"]["accuracy"] == pytest.approx(0.75)
    assert m["pass@4"]["accuracy"] == 1.0
    # majority and best-of-N share the same samples: same tokens; majority uses no scorer
    assert m["majority"]["generated_tokens"] == m["best-of-n"]["generated_tokens"] == 2 * 4 * 10
    assert m["majority"]["scorer_calls"] == 0 and m["best-of-n"]["scorer_calls"] == 2
    assert m["beam"]["generated_tokens"] > 0 and m["beam"]["scorer_calls"] >= 2

    rows = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["gsm8k-test-0", "gsm8k-test-1"]
    assert rows[1]["reference_answer"] == "999"
    assert rows[0]["best-of-n"] == {
        "answer": "5",
        "stated": "Tom has 5 apples",
        "correct": True,
        "strict": False,
    }
    # min over [1.0 (true claim), 0.5 (no claim: the answer line)]
    assert rows[0]["sample_min_scores"] == [0.5, 0.5, 0.5, 0.0]

    # resume: everything is cached, the policy is not called again and the table is the same
    runs = out.with_suffix(".runs.jsonl")
    assert len(runs.read_text().splitlines()) == 4  # 2 problems x (best-of-n, beam)
    calls = pol.calls
    assert ex.main(argv, policy=pol) == 0
    assert pol.calls == calls
    assert json.loads(out.read_text())["methods"] == m

    # a last line cut by a kill is redone; only that search calls the policy
    lines = runs.read_text().splitlines()
    runs.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:50], encoding="utf-8")
    assert ex.main(argv, policy=pol) == 0
    assert pol.calls > calls
    assert json.loads(out.read_text())["methods"]["beam"]["accuracy"] == 1.0

    # other settings do not silently mix with the cache
    with pytest.raises(PrmkitError, match="other settings"):
        ex.main([*argv[:-1], "--seed", "1", "--quiet"], policy=pol)


def test_gsm8k_number_and_bad_data(tmp_path):
    ex = load_example()
    assert ex.gsm8k_number("2 * 4 + 3 + 16 = 78 cents") == "78"
    assert ex.gsm8k_number("-3.5 degrees") == "-3.5"
    assert ex.gsm8k_number(None) is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "no final line"}\n', encoding="utf-8")
    with pytest.raises(PrmkitError, match="####"):
        ex.gsm8k_problems(bad, 5)
