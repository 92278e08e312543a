"""Converters: every fixture loads, round trips are identical where the format can hold the data."""

from __future__ import annotations

import json

import pytest

from prmkit.errors import PrmkitError
from prmkit.formats import FORMATS, ConvertConfig, convert, detect_format, read_solutions, write_solutions
from prmkit.records import Rejects, Solution, read_records, write_records

ALL = [
    "canonical",
    "processbench",
    "trl",
    "math-shepherd",
    "prm800k",
    "prmbench",
    "omegaprm",
    "versaprm",
    "map",
]


def _lines(path):
    return [json.loads(x) for x in open(path, encoding="utf-8") if x.strip()]


def test_registry_has_every_format():
    assert set(ALL) <= set(FORMATS.names())
    with pytest.raises(PrmkitError, match="unknown format 'nope'"):
        read_solutions("x.jsonl", "nope")
    with pytest.raises(PrmkitError, match="do not apply"):
        read_solutions("x.jsonl", "trl", neutral="positive")


@pytest.mark.parametrize("split", ["gsm8k", "math", "olympiadbench", "omnimath"])
def test_processbench_round_trip(shared_data, tmp_path, split):
    src = shared_data / "processbench" / f"{split}.json"
    orig = json.loads(src.read_text())
    recs = list(read_solutions(src, "processbench"))
    assert len(recs) == len(orig)
    assert sum(r.first_error >= 0 for r in recs) == sum(o["label"] >= 0 for o in orig)
    write_records(tmp_path / "c.jsonl", recs)
    write_solutions(tmp_path / "back.json", read_records(tmp_path / "c.jsonl"), "processbench")
    back = json.loads((tmp_path / "back.json").read_text())
    assert back == orig
    assert [list(b) for b in back[:5]] == [list(o) for o in orig[:5]]  # same field order


def test_processbench_labels(tmp_path):
    f = tmp_path / "pb.jsonl"
    f.write_text(
        json.dumps({"id": 1, "problem": "p", "steps": ["a", "b", "c"], "label": -1})
        + "\n"
        + json.dumps({"id": "x", "problem": "p", "steps": ["a", "b", "c"], "label": 0})
        + "\n"
    )
    assert [r.labels for r in read_solutions(f, "processbench")] == [[1.0, 1.0, 1.0], [0.0, None, None]]
    f.write_text(json.dumps({"id": "x", "problem": "p", "steps": ["a"], "label": 1}) + "\n")
    with pytest.raises(PrmkitError, match=r"pb.jsonl:1: field 'label': first-error index 1 out of range"):
        list(read_solutions(f, "processbench"))


def test_trl_round_trip_and_soft_labels(tmp_path):
    recs = [
        Solution(id="a", problem="p", steps=["x", "y"], labels=[1.0, 0.0]),
        Solution(id="b", problem="q", steps=["z"], labels=[0.375]),
    ]
    write_solutions(tmp_path / "t.jsonl", recs, "trl")
    rows = _lines(tmp_path / "t.jsonl")
    assert rows[0]["labels"] == [True, False] and rows[1]["labels"] == [0.375]
    assert list(read_solutions(tmp_path / "t.jsonl", "trl")) == recs
    pb = [Solution(id="c", problem="p", steps=["x", "y", "z"], labels=[1.0, 0.0, None])]
    with pytest.raises(PrmkitError, match="unknown labels"):
        write_solutions(tmp_path / "u.jsonl", pb, "trl")
    write_solutions(tmp_path / "u.jsonl", pb, "trl", unknown="truncate")
    assert _lines(tmp_path / "u.jsonl")[0]["completions"] == ["x", "y"]


def test_math_shepherd_fixture(shared_data, tmp_path):
    src = shared_data / "fixtures" / "math_shepherd_sample.jsonl"
    recs = list(read_solutions(src, "math-shepherd"))
    assert len(recs) == 7 and all(r.steps[0].startswith("Step 1:") for r in recs)
    assert recs[0].problem.endswith("in a year?") and recs[0].labels == [1.0, 1.0, 1.0, 1.0, 0.0]
    assert recs[0].meta == {"task": "GSM8K"}
    write_solutions(tmp_path / "ms.jsonl", recs, "math-shepherd")
    back = [{k: v for k, v in d.items() if k != "id"} for d in _lines(tmp_path / "ms.jsonl")]
    assert back == _lines(src)


def test_math_shepherd_bad_label(tmp_path):
    f = tmp_path / "ms.jsonl"
    f.write_text(json.dumps({"input": "Q Step 1: a ки", "label": "Q Step 1: a ?"}) + "\n")
    with pytest.raises(PrmkitError, match=r"ms.jsonl:1: field 'label'"):
        list(read_solutions(f, "math-shepherd"))


@pytest.mark.parametrize("neutral, expected", [("positive", 1.0), ("negative", 0.0), ("unknown", None)])
def test_prm800k_fixture_neutral(shared_data, neutral, expected):
    src = shared_data / "fixtures" / "prm800k_sample.jsonl"
    recs = list(read_solutions(src, "prm800k", neutral=neutral))
    assert len(recs) == 6
    # line 5 is a give_up session: step 8 is the labeller's own text (all offered completions were
    # rated -1), then an empty placeholder step that is ignored
    assert recs[4].meta["prm800k"]["finish_reason"] == "give_up" and len(recs[4].steps) == 8
    assert recs[4].meta["prm800k"]["human_steps"] == [7] and recs[4].first_error == -1
    first = recs[0]
    assert first.reference_answer == "29"
    assert first.meta["prm800k"]["ratings"] == [1, 1, 1, 1, 1, 1]  # step 2: the human completion (counted 1)
    assert first.labels == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0] and first.meta["prm800k"]["human_steps"] == [1]
    second = recs[1]
    assert second.meta["prm800k"]["ratings"] == [1, 0, 1, 1, 1, 1, -1]
    assert second.labels == [1.0, expected, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert second.first_error == (1 if neutral == "negative" else 6)
    with pytest.raises(PrmkitError, match="neutral must be one of"):
        list(read_solutions(src, "prm800k", neutral="maybe"))


def test_prm800k_write_and_read_back(shared_data, tmp_path):
    src = shared_data / "fixtures" / "prm800k_sample.jsonl"
    recs = list(read_solutions(src, "prm800k"))
    write_solutions(tmp_path / "p.jsonl", recs, "prm800k")
    back = list(read_solutions(tmp_path / "p.jsonl", "prm800k"))
    assert [(b.id, b.problem, b.steps, b.labels, b.meta) for b in back] == [
        (r.id, r.problem, r.steps, r.labels, r.meta) for r in recs
    ]
    # from plain records (no PRM800K meta): hard labels -> ratings, None -> 0 (neutral)
    plain = [Solution(id="z", problem="p", steps=["a", "b", "c"], labels=[1.0, None, 0.0])]
    write_solutions(tmp_path / "q.jsonl", plain, "prm800k")
    row = _lines(tmp_path / "q.jsonl")[0]
    assert [s["completions"][0]["rating"] for s in row["label"]["steps"]] == [1, 0, -1]
    assert row["label"]["steps"][-1]["chosen_completion"] is None
    assert next(read_solutions(tmp_path / "q.jsonl", "prm800k", neutral="unknown")).labels == plain[0].labels


def test_prmbench_round_trip_and_original(shared_data, tmp_path):
    src = shared_data / "prmbench" / "prm800k_test_p1_4o_circular.jsonl"
    rej = Rejects()
    recs = list(read_solutions(src, "prmbench", skip_invalid=True, rejects=rej))
    orig = _lines(src)
    assert len(recs) + rej.count == len(orig) and rej.count == 1 and "error_steps" in rej.errors[0]
    r = recs[0]
    assert r.id == "prm_test_p1_0" and r.labels[2:5] == [0.0, 0.0, 0.0] and r.first_error == 2
    write_solutions(tmp_path / "pb.jsonl", recs, "prmbench")
    ok = [o for o in orig if all(1 <= e <= len(o["modified_process"]) for e in o["error_steps"])]
    assert _lines(tmp_path / "pb.jsonl") == ok
    both = list(read_solutions(src, "prmbench", original=True, skip_invalid=True))
    assert len(both) == 2 * len(recs) and both[1].id == "prm_test_p1_0#original"
    assert both[1].first_error == -1 and both[1].problem_id == "prm_test_p1_0"
    write_solutions(tmp_path / "pb2.jsonl", both, "prmbench")
    assert _lines(tmp_path / "pb2.jsonl") == ok


def test_prmbench_multi_solutions_fixture(shared_data):
    recs = list(read_solutions(shared_data / "prmbench" / "prm_test_p12_multi_solutions.jsonl", "prmbench"))
    assert recs and all(r.first_error == -1 for r in recs[:5])


def test_omegaprm_fixture_round_trip(shared_data, tmp_path):
    src = shared_data / "fixtures" / "math_aps_sample.jsonl"
    orig = _lines(src)
    recs = list(read_solutions(src, "omegaprm"))
    n_prefixes = sum(sum(e["solution_prefix"] != o["question"] for e in o["reasoning_steps"]) for o in orig)
    assert len(recs) == n_prefixes
    assert all(0 <= v <= 1 for r in recs for v in r.labels)
    assert recs[0].reference_answer == "64" and recs[0].labels == [1.0] and len(recs[0].steps) == 1
    assert max(len(r.steps) for r in recs) >= 3  # deeper nodes carry their ancestors' values
    write_records(tmp_path / "c.jsonl", recs)
    write_solutions(tmp_path / "o.jsonl", read_records(tmp_path / "c.jsonl"), "omegaprm")
    assert _lines(tmp_path / "o.jsonl") == orig


def test_omegaprm_from_plain_records(tmp_path):
    recs = [
        Solution(id="q#0", problem="Q", steps=["a", "b"], labels=[1.0, 0.5]),
        Solution(id="q#1", problem="Q", steps=["a", "c"], labels=[1.0, 0.0]),
    ]
    write_solutions(tmp_path / "o.jsonl", recs, "omegaprm")
    (line,) = _lines(tmp_path / "o.jsonl")
    assert [e["solution_prefix"] for e in line["reasoning_steps"]] == ["Q\n\na", "Q\n\na\n\nb", "Q\n\na\n\nc"]
    back = list(read_solutions(tmp_path / "o.jsonl", "omegaprm"))
    assert [(b.steps, b.labels) for b in back][1:] == [(r.steps, r.labels) for r in recs]


def test_omegaprm_flat_line(tmp_path):
    f = tmp_path / "flat.jsonl"
    f.write_text(json.dumps({"question": "Q", "solution_prefix": "Q\n\nstep", "mc_value": 0.25}) + "\n")
    (r,) = read_solutions(f, "omegaprm")
    assert r.steps == ["step"] and r.labels == [0.25]


def test_versaprm_fixture(shared_data, tmp_path):
    src = shared_data / "fixtures" / "prm800k_phase2_eval_small.json"
    orig = json.loads(src.read_text())
    recs = list(read_solutions(src, "versaprm"))
    assert len(recs) == sum(len(o["chain_of_thoughts"]) for o in orig) == 11
    assert recs[0].reference_answer == "6" and recs[2].labels == [0.0]
    write_solutions(tmp_path / "v.json", recs, "versaprm")
    assert json.loads((tmp_path / "v.json").read_text()) == orig


def test_mapping_reader_writer(tmp_path):
    f = tmp_path / "m.jsonl"
    rows = [
        {"uid": 7, "question": "q", "process": "a\n\nb\n\nc", "mistake_index": 1, "src": "web"},
        {"uid": 8, "question": "q", "process": "a", "mistake_index": None, "src": "web"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = "id=uid,problem=question,steps=process,first_error=mistake_index"
    recs = list(read_solutions(f, "map", mapping=spec))
    assert [(r.id, r.steps, r.labels, r.meta) for r in recs] == [
        ("7", ["a", "b", "c"], [1.0, 0.0, None], {"src": "web"}),
        ("8", ["a"], [1.0], {"src": "web"}),
    ]
    write_solutions(tmp_path / "o.jsonl", recs, "map", mapping=spec, split="\n\n")
    back = _lines(tmp_path / "o.jsonl")
    assert back[0] == {**rows[0], "uid": "7"} and back[1]["mistake_index"] == -1
    g = tmp_path / "n.jsonl"
    g.write_text(json.dumps({"q": {"text": "p"}, "lines": "Step 1: x\nStep 2: y", "lab": [1, 0]}) + "\n")
    (r,) = read_solutions(g, "map", mapping="problem=q.text,steps=lines,labels=lab", split="step-headers")
    assert r.problem == "p" and r.steps == ["x", "y"] and r.labels == [1.0, 0.0]
    with pytest.raises(PrmkitError, match="unknown canonical field 'wat'"):
        list(read_solutions(g, "map", mapping="wat=x"))
    g.write_text(json.dumps({"problem": "p", "steps": ["a"], "mistake": 4}) + "\n")
    with pytest.raises(PrmkitError, match=r"n.jsonl:1: field 'mistake': first-error index 4 out of range"):
        list(read_solutions(g, "map", mapping="first_error=mistake"))


@pytest.mark.parametrize(
    "fixture, fmt",
    [
        ("fixtures/math_shepherd_sample.jsonl", "math-shepherd"),
        ("fixtures/prm800k_sample.jsonl", "prm800k"),
        ("fixtures/prm800k_phase2_eval_small.json", "versaprm"),
        ("fixtures/math_aps_sample.jsonl", "omegaprm"),
        ("processbench/gsm8k.json", "processbench"),
        ("prmbench/prm800k_test_p1_4o_circular.jsonl", "prmbench"),
    ],
)
def test_detect_format(shared_data, fixture, fmt):
    assert detect_format(shared_data / fixture) == fmt


def test_convert_skip_invalid_writes_rejects(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "problem": "p", "steps": ["x"], "label": -1})
        + "\n"
        + "{broken\n"
        + json.dumps({"id": "b", "problem": "p", "steps": [], "label": -1})
        + "\n"
        + json.dumps({"id": "c", "problem": "p", "steps": ["x"], "label": 5})
        + "\n"
        + json.dumps({"id": "d", "problem": "p", "steps": ["x"], "label": 0})
        + "\n"
    )
    cfg = ConvertConfig(
        input=str(src),
        output=str(tmp_path / "out.jsonl"),
        from_format="processbench",
        skip_invalid=True,
        rejects=str(tmp_path / "rej.jsonl"),
        quiet=True,
    )
    res = convert(cfg)
    assert (res.read, res.written, res.rejected) == (2, 2, 3)
    rej = _lines(tmp_path / "rej.jsonl")
    assert len(rej) == 3
    for e, where in zip(
        rej, ["in.jsonl:2: malformed", "in.jsonl:3: field 'steps'", "in.jsonl:4: field 'label'"], strict=True
    ):
        assert where in e["error"]
    assert rej[1]["raw"].startswith('{"id": "b"')
    cfg.skip_invalid = False
    cfg.rejects = None
    with pytest.raises(PrmkitError, match="in.jsonl:2: malformed JSON"):
        convert(cfg)
