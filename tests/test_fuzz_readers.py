"""Property-based fuzzing: every reader, fed arbitrary bytes or JSON, raises only PrmkitError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prmkit.errors import PrmkitError
from prmkit.formats import FORMATS, read_solutions

READERS = FORMATS.names()
OPTS = {"map": {"mapping": "problem=q,steps=s,first_error=fe,labels=l"}}
# plausible keys of every format, so generated objects get past the first checks
KEYS = [
    "id",
    "problem",
    "steps",
    "labels",
    "scores",
    "meta",
    "label",
    "generator",
    "prompt",
    "completions",
    "input",
    "question",
    "chosen_completion",
    "completions",
    "rating",
    "text",
    "modified_process",
    "modified_question",
    "error_steps",
    "idx",
    "original_process",
    "reasoning_steps",
    "solution_prefix",
    "mc_value",
    "chain_of_thoughts",
    "answer",
    "q",
    "s",
    "fe",
    "l",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 5)
    | st.floats(allow_nan=True)
    | st.sampled_from(["", "Q", "Q Step 1: a ки", "Step 1: x", "ки", "+", "-"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=6)
    ),
    max_leaves=20,
)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
_DIR = Path(tempfile.mkdtemp(prefix="prmkit-fuzz-"))


def _read_all(path: Path, fmt: str) -> None:
    try:
        for rec in read_solutions(path, fmt, **OPTS.get(fmt, {})):
            assert rec.steps and (rec.labels is None or len(rec.labels) == len(rec.steps))
    except PrmkitError:
        pass


@pytest.mark.parametrize("fmt", READERS)
@SETTINGS
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(fmt, data):
    for suffix in (".jsonl", ".json"):
        p = _DIR / f"bytes-{fmt}{suffix}"
        p.write_bytes(data)
        _read_all(p, fmt)


@pytest.mark.parametrize("fmt", READERS)
@SETTINGS
@given(objs=st.lists(json_values, min_size=1, max_size=3))
def test_arbitrary_json_records(fmt, objs):
    p = _DIR / f"json-{fmt}.jsonl"
    p.write_text("".join(json.dumps(o) + "\n" for o in objs))
    _read_all(p, fmt)
    q = _DIR / f"json-{fmt}.json"
    q.write_text(json.dumps(objs))
    _read_all(q, fmt)


def test_canonical_parquet_bytes():
    p = _DIR / "x.parquet"
    p.write_bytes(b"PAR1garbagePAR1")
    with pytest.raises(PrmkitError, match="Parquet"):
        list(read_solutions(p, "canonical"))
