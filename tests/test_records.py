"""The canonical record: validation, JSONL/JSON/Parquet/datasets round trips, rejects."""

from __future__ import annotations

import json

import pytest

from prmkit.errors import PrmkitError
from prmkit.records import (
    Rejects,
    Solution,
    first_error_of,
    from_dataset,
    labels_from_first_error,
    read_records,
    to_dataset,
    write_records,
)

RECS = [
    Solution(
        id="a#0",
        problem="1+1?",
        steps=["1+1=2", "The answer is 2."],
        answer="2",
        reference_answer="2",
        labels=[1.0, 1.0],
        scores=[0.9, 0.8],
        meta={"src": "x", "n": [1, 2]},
    ),
    Solution(id="a#1", problem="1+1?", steps=["1+1=3", "x", "y"], labels=[1.0, 0.0, None]),
    Solution(id="b#0", problem="soft", steps=["s"], labels=[0.25]),
]


def test_first_error_and_labels():
    assert first_error_of([1, 0.75, 0.25, 0]) == 2
    assert labels_from_first_error(0, 2) == [0.0, None]
    assert labels_from_first_error(-1, 1) == [1.0]
    with pytest.raises(PrmkitError):
        labels_from_first_error(3, 3)
    assert RECS[1].first_error == 1 and RECS[0].first_error == -1


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet", ".jsonl.gz"])
def test_file_round_trip(tmp_path, suffix):
    f = tmp_path / f"r{suffix}"
    assert write_records(f, RECS) == 3
    assert list(read_records(f)) == RECS


def test_jsonl_parquet_jsonl(tmp_path):
    write_records(tmp_path / "a.jsonl", RECS)
    write_records(tmp_path / "b.parquet", read_records(tmp_path / "a.jsonl"))
    write_records(tmp_path / "c.jsonl", read_records(tmp_path / "b.parquet"))
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "c.jsonl").read_text()


def test_dataset_round_trip():
    ds = to_dataset(RECS)
    assert len(ds) == 3 and set(ds.column_names) >= {"id", "problem", "steps", "labels", "meta"}
    assert list(from_dataset(ds)) == RECS


@pytest.mark.parametrize(
    "line, field",
    [
        ('{"id": "a", "problem": "p", "steps": []}', "steps"),
        ('{"id": "a", "problem": "p"}', "steps"),
        ('{"id": "a", "problem": 3, "steps": ["s"]}', "problem"),
        ('{"id": "a", "problem": "p", "steps": ["s"], "labels": [NaN]}', "labels"),
        ('{"id": "a", "problem": "p", "steps": ["s"], "scores": [1.5]}', "scores"),
        ('{"id": "a", "problem": "p", "steps": ["s", "t"], "labels": [1]}', "labels"),
        ('{"id": "a", "problem": "p", "steps": ["s"], "meta": []}', "meta"),
    ],
)
def test_bad_records_name_file_line_field(tmp_path, line, field):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "ok", "problem": "p", "steps": ["s"]}\n' + line + "\n")
    with pytest.raises(PrmkitError) as ei:
        list(read_records(f))
    assert ei.value.file == str(f) and ei.value.line == 2 and ei.value.field == field
    assert f"bad.jsonl:2: field '{field}'" in str(ei.value)


def test_malformed_json_and_skip_invalid(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text(
        '{"id": "a", "problem": "p", "steps": ["s"]}\n{oops\n{"id": "b", "problem": "p", "steps": 1}\n'
    )
    with pytest.raises(PrmkitError, match=r"m.jsonl:2: malformed JSON"):
        list(read_records(f))
    rej = Rejects(tmp_path / "rej.jsonl")
    assert [r.id for r in read_records(f, skip_invalid=True, rejects=rej)] == ["a"]
    rej.close()
    assert rej.count == 2
    rows = [json.loads(x) for x in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert "m.jsonl:3: field 'steps'" in rows[1]["error"] and rows[1]["raw"].startswith('{"id": "b"')


def test_corrupt_parquet_and_gz(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    (tmp_path / "x.jsonl.gz").write_bytes(b"not gzip")
    for name in ("x.parquet", "x.jsonl.gz"):
        with pytest.raises(PrmkitError, match=name):
            list(read_records(tmp_path / name))
