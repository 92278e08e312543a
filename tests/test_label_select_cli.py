"""``prmkit label --select uncertain`` (ActPRM, docs/methods.md#c6-actprm-uncertainty-selection)
end to end on the arithmetic world: an ``lm-likelihood`` PRM scores the pool, only the most
uncertain solutions within the budget are labelled, and the labels spent are reported."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from prmkit.cli.app import app
from prmkit.errors import PrmkitError
from prmkit.label.active import budget_count
from prmkit.label.runner import LabelConfig, run_labelling
from prmkit.records import Solution, read_records, write_records
from prmkit.worlds.arith import make_bench

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def prm(tmp_path_factory):
    from prmkit.train import TrainConfig, train

    out = tmp_path_factory.mktemp("prm")
    train(TrainConfig(out=str(out), model="arith-base", format="lm-likelihood", threads=1),
          train_records=make_bench(80, seed=11), eval_records=[])  # fmt: skip
    return str(out)


def test_select_uncertain_labels_only_the_selected_and_counts_them(prm, tmp_path):
    pool = [Solution(id=r.id, problem=r.problem, steps=r.steps, reference_answer=r.reference_answer, meta=r.meta)
            for r in make_bench(30, seed=12)]  # fmt: skip
    data = tmp_path / "pool.jsonl"
    write_records(data, pool)
    out = tmp_path / "act"
    r = CliRunner().invoke(app, ["label", "--in", str(data), "--out", str(out), "--method", "binary", "--n", "2",
                                 "--select", "uncertain", "--select-model", prm, "--select-budget", "0.3"])  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[0])
    sel = json.loads((out / "selection.json").read_text())
    assert summary["pool"] == 30 and summary["selected"] == sel["selected"] <= 9
    shards = [x for p in sorted((out / "shards").glob("shard-*.jsonl")) for x in read_records(p)]
    assert [x.id for x in shards] == sel["selected_ids"]  # only the selected reached the labeller
    assert all(x.labels is not None for x in shards)
    assert summary["solutions"] == summary["selected"] and summary["rollouts"] > 0
    # the selected are the most uncertain of the unsure ones
    unsure = sorted((x for x in sel["solutions"] if not x["confident"]), key=lambda x: -x["uncertainty"])
    top = {x["id"] for x in unsure[: summary["selected"]]}
    assert set(sel["selected_ids"]) == top
    assert summary["label_fraction"] == round(summary["selected"] / 30, 4)
    # resuming reuses the selection; changing it is refused
    r2 = CliRunner().invoke(app, ["label", "--in", str(data), "--out", str(out), "--method", "binary", "--n", "2",
                                  "--select", "uncertain", "--select-model", prm, "--select-budget", "0.3", "--resume"])  # fmt: skip
    assert r2.exit_code == 0, r2.output
    r3 = CliRunner().invoke(app, ["label", "--in", str(data), "--out", str(out), "--method", "binary", "--n", "2",
                                  "--select", "uncertain", "--select-model", prm, "--select-budget", "5", "--resume"])  # fmt: skip
    assert r3.exit_code != 0 and "select_budget" in (r3.output + str(r3.exception))


def test_budget_and_config_rules(tmp_path):
    assert budget_count(None, 40) is None and budget_count(0.25, 40) == 10 and budget_count(7, 40) == 7
    with pytest.raises(PrmkitError):
        LabelConfig(select_budget=0.5)  # needs select=uncertain
    with pytest.raises(PrmkitError):
        LabelConfig(select="most")
    with pytest.raises(PrmkitError):
        run_labelling(LabelConfig(input="x.jsonl", out=str(tmp_path), select="uncertain"))
