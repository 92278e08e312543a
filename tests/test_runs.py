"""One seed derivation, one run-metadata record, one tokenizer loader, one check of a policy's
``continue_from`` arguments: the helpers every stage shares (prmkit.runs and friends)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from prmkit.errors import PrmkitError
from prmkit.records import META_CORRECT, Problem, Solution
from prmkit.runs import derive_seed, run_metadata, sha256_file, versions


def test_derive_seed_is_the_documented_hash() -> None:
    # by hand: SHA-256 of the parts' repr joined by \x1f, first 4 bytes big-endian, top bit cleared
    digest = hashlib.sha256(b"0\x1f'beam'\x1f'p1'\x1f3").digest()
    assert derive_seed(0, "beam", "p1", 3) == int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
    assert derive_seed(1, "a") != derive_seed("1", "a")  # repr keeps types apart
    seeds = {derive_seed(0, "q", j) for j in range(2000)}
    assert len(seeds) == 2000 and all(0 <= s < 2**31 for s in seeds)


def test_derive_seed_is_stable_across_processes() -> None:
    code = "from prmkit.runs import derive_seed; print(derive_seed(7, 'q#1', ('a', 'b'), 2))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == derive_seed(7, "q#1", ("a", "b"), 2)


def test_every_stage_uses_the_one_derive_seed() -> None:
    import prmkit.label.base as label_base
    import prmkit.policies.text as text
    import prmkit.search.base as search_base

    assert label_base.derive_seed is text.derive_seed is search_base.derive_seed is derive_seed


@dataclass
class _Cfg:
    n: int = 4
    out: Path = Path("x")


def test_run_metadata_records_config_versions_and_input_hashes(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_bytes(b'{"id": "a"}\n')
    meta = run_metadata(_Cfg(), seed=3, data_files=[f], summary={"accuracy": 0.5})
    assert meta["config"] == {"n": 4, "out": "x"}  # dataclass made JSON-safe
    assert meta["seed"] == 3 and meta["summary"] == {"accuracy": 0.5}
    assert meta["data"] == {str(f): hashlib.sha256(b'{"id": "a"}\n').hexdigest()}
    assert sha256_file(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    import importlib.metadata

    assert meta["versions"]["torch"] == importlib.metadata.version("torch")
    assert set(versions([])) == {"prmkit", "python"}


def test_load_tokenizer_local_dir_sets_pad_and_errors_name_the_path(tmp_path: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    from prmkit.models.tiny import train_tokenizer
    from prmkit.models.tokenizer import load_tokenizer

    tok = train_tokenizer(["1 + 2 = 3", "the answer is 3"], vocab_size=120)
    tok.pad_token = None
    tok.save_pretrained(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert isinstance(loaded, PreTrainedTokenizerFast)
    assert loaded("1 + 2 = 3")["input_ids"] == tok("1 + 2 = 3")["input_ids"]
    assert loaded.pad_token is not None and loaded.pad_token == (loaded.eos_token or loaded.unk_token)
    with pytest.raises(PrmkitError, match=r"field 'tokenizer': cannot load tokenizer '.*no-such-dir'"):
        load_tokenizer(tmp_path / "no-such-dir")


def test_continue_from_arguments_are_checked_the_same_way_by_every_backend() -> None:
    from prmkit.policies.base import check_continue_args
    from prmkit.worlds.arith import generate_problems
    from prmkit.worlds.arith_policy import ArithPolicy

    p = generate_problems(1, seed=0)
    cases = [
        (([Problem(id="a", question="?")], [], 1, None), "field 'prefixes': 1 problems but 0 prefixes"),
        ((p, [[]], 0, None), "field 'n': n must be >= 1, got 0"),
        ((p, [[]], 2, 0), "field 'max_steps': max_steps must be >= 1 or None, got 0"),
    ]
    for (probs, prefixes, n, max_steps), msg in cases:
        with pytest.raises(PrmkitError, match=msg):
            check_continue_args(probs, prefixes, n, max_steps)
        with pytest.raises(PrmkitError, match=msg):  # a backend reaches the same check
            ArithPolicy().continue_from(probs, prefixes, n, max_steps=max_steps)
    assert len(ArithPolicy().continue_from(p, [[]], 2, max_steps=1)[0]) == 2


def test_solution_correct_reads_the_one_meta_key() -> None:
    assert Solution(id="a", problem="p", steps=["s"], meta={META_CORRECT: True}).correct is True
    assert Solution(id="a", problem="p", steps=["s"], meta={META_CORRECT: 0}).correct is False
    assert Solution(id="a", problem="p", steps=["s"], meta={"final_answer_correct": True}).correct is None
