"""Generative verifiers (issue 19 item 1): the arithmetic world's chain writer against hand-written
chains, the verdict parser (malformed chains give None, never an error), the SFT loss mask, a
short training run whose loss falls, greedy scoring that stops at the first incorrect step, the
K-chain vote share and mean by hand, ThinkPRM's filter (by hand and through a fake OpenAI
server), the load_scorer round trip and ``prmkit train --format generative`` end to end."""

from __future__ import annotations

import json

import pytest
import torch

from prmkit.errors import PrmkitError
from prmkit.models.packaged import resolve_model
from prmkit.models.tokenizer import load_tokenizer
from prmkit.records import Solution, labels_from_first_error
from prmkit.scorers.generative import (
    Chain,
    GenerativeScorer,
    aggregate,
    chain_values,
    parse_chain,
    parse_line,
    step_segments,
)
from prmkit.train.config import TrainConfig
from prmkit.train.generative import (
    build_chain_examples,
    chain_agrees,
    chain_example,
    chain_lines,
    normalise_chain,
    sft_loss,
    synthesise_chains,
)
from prmkit.worlds.arith import check_steps, generate_problems, make_bench
from prmkit.worlds.arith_verify import verification_chain

torch.set_num_threads(1)

# Hana buys 4 bunches of 3 balloons, uses 4: nodes 4 x 3 = 12, 12 - 4 = 8; answer 8
PROBLEM = generate_problems(1, seed=0, min_ops=2, max_ops=2, distractors=False)[0]


def _record(steps, rid="r"):
    chk = check_steps(PROBLEM, steps)
    return Solution(id=rid, problem=PROBLEM.question, steps=steps, reference_answer=PROBLEM.reference_answer,
                    labels=labels_from_first_error(chk.first_error, len(steps)), meta=dict(PROBLEM.meta))  # fmt: skip


# ---------------------------------------------------------------- the chain writer


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons.", "The answer is 8."],
         "Step 1: 4 known, 3 known; 4 x 3 = 12, 12 - 12 = 0. correct\nStep 2: 12 known, 4 known; 12 - 4 = 8, 8 - 8 = 0. correct\nStep 3: the answer is 8, 8 - 8 = 0. correct"),
        # an arithmetic slip: the left-hand side is recomputed
        (["4 x 3 = 12 balloons.", "12 - 4 = 9 balloons.", "The answer is 9."],
         "Step 1: 4 known, 3 known; 4 x 3 = 12, 12 - 12 = 0. correct\nStep 2: 12 known, 4 known; 12 - 4 = 8, 9 - 8 = 1. incorrect"),
        # a wrong operation (true, but 7 is not a quantity): the computation the problem needs
        (["4 + 3 = 7 balloons.", "7 - 4 = 3 balloons.", "The answer is 3."],
         "Step 1: 4 known, 3 known; 4 x 3 = 12, 12 - 7 = 5. incorrect"),
        # a misread number (5 is neither a given nor a result): named where the lookup fails
        (["5 x 3 = 15 balloons.", "15 - 4 = 11 balloons.", "The answer is 11."],
         "Step 1: 5 not known. incorrect"),
        # right steps, wrong final answer
        (["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons.", "The answer is 12."],
         "Step 1: 4 known, 3 known; 4 x 3 = 12, 12 - 12 = 0. correct\nStep 2: 12 known, 4 known; 12 - 4 = 8, 8 - 8 = 0. correct\nStep 3: the answer is 8, 12 - 8 = 4. incorrect"),
        (["Let me think.", "The answer is 8."], "Step 1: no equation. incorrect"),
        (["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons."],
         "Step 1: 4 known, 3 known; 4 x 3 = 12, 12 - 12 = 0. correct\nStep 2: 12 - 4 = 8; no answer. incorrect"),
    ],
)  # fmt: skip
def test_chain_writer_hand_written(steps, expected):
    assert verification_chain(PROBLEM, steps) == expected
    # its verdicts are the checker's, up to the first error
    chk = check_steps(PROBLEM, steps)
    upto = chk.first_error + 1 if chk.first_error >= 0 else len(steps)
    assert parse_chain(expected, len(steps))[:upto] == chk.correct[:upto]


def test_chain_writer_agrees_with_the_checker_on_policy_samples():
    for r in make_bench(60, seed=5):
        chain = verification_chain(r, r.steps)
        verdicts = parse_chain(chain, len(r.steps))
        fe = r.first_error
        assert verdicts[: (fe + 1 if fe >= 0 else len(r.steps))] == [
            i != fe for i in range(fe + 1 if fe >= 0 else len(r.steps))
        ]
        assert chain_agrees(chain, r.labels, len(r.steps))


# ---------------------------------------------------------------- the parser


def test_parser_reads_verdicts_and_stops_at_the_first_incorrect():
    text = "Step 1: 2 + 3 = 5. correct\nStep 2: 5 x 4 = 20, not 21. incorrect\nStep 3: x. correct"
    assert parse_chain(text, 3) == [True, False, None]
    assert parse_line("Step 3: 198 - 27 = 171, not 175. The step is incorrect.") == (3, False)
    assert parse_line("step 2: fine.  CORRECT") == (2, True)


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "Step : correct", "Step 9: out of range. correct", "Step 1: no verdict",
     "Step 0: zero. correct", "\x00\x01", "Step 1: 2. correct\nStep 1: again. incorrect", "Step -1: x. correct",
     "Step 99999999999999999999: x. incorrect", "correct\nincorrect"],
)  # fmt: skip
def test_malformed_chains_give_none_never_raise(text):
    got = parse_chain(text, 2)
    assert len(got) == 2
    assert got[1] is None  # no well-formed line for step 2 in any of these
    assert got[0] in (None, True)


def test_chain_values_and_aggregate_by_hand():
    # after the first incorrect every step is 0; no verdict before it: None
    assert chain_values([True, False, None]) == [1.0, 0.0, 0.0]
    assert chain_values([True, None, True]) == [1.0, None, 1.0]
    assert chain_values([True, False, None], [0.9, 0.2, None]) == [0.9, 0.2, 0.0]
    # three chains: votes per step 3/3, 2/3, 1/3 (chain 2 stopped at step 2)
    chains = [
        Chain("", [True, True, False], [0.9, 0.8, 0.3], 10),
        Chain("", [True, False, None], [0.7, 0.4, None], 8),
        Chain("", [True, True, True], [0.6, 0.9, 0.8], 12),
    ]
    vote = aggregate([c.values(soft=False) for c in chains], "vote", [c.stop for c in chains])
    assert [c.stop for c in chains] == [2, 1, None]
    # step 3: chain 2 stopped at step 2 and abstains: votes 0 and 1
    assert vote == pytest.approx([1.0, 2 / 3, 1 / 2])
    mean = aggregate([c.values() for c in chains], "mean", [c.stop for c in chains])
    assert mean == pytest.approx([(0.9 + 0.7 + 0.6) / 3, (0.8 + 0.4 + 0.9) / 3, (0.3 + 0.8) / 2])
    # without stops a stopped chain's later steps vote 0 (the share of chains clean up to the step)
    assert aggregate([c.values(soft=False) for c in chains], "vote") == pytest.approx([1.0, 2 / 3, 1 / 3])
    # every chain stopped before a step: 0
    assert aggregate([[1.0, 0.0, 0.0]], "vote", [1]) == [1.0, 0.0, 0.0]
    # a chain without a value for a step does not count; none at all: None
    assert aggregate([[1.0, None], [0.0, None]], "vote") == [0.5, None]
    with pytest.raises(PrmkitError):
        aggregate([[1.0]], "median")


# ---------------------------------------------------------------- the filter


def test_thinkprm_filter_by_hand():
    c_ok = "Step 1: 4 x 3 = 12. correct\nStep 2: 12 - 4 = 8, not 9. incorrect"
    assert chain_agrees(c_ok, [1.0, 0.0, None], 3)
    assert not chain_agrees(c_ok, [1.0, 1.0, 1.0], 3)  # calls a correct step incorrect
    assert not chain_agrees("Step 1: fine. correct\nStep 2: fine. correct", [1.0, 0.0], 2)  # misses the error
    assert not chain_agrees("Step 1: fine. correct", [1.0, 1.0], 2)  # no verdict on step 2
    assert chain_agrees("Step 2: fine. correct", [None, 1.0], 2)  # unlabelled steps are not checked
    assert chain_agrees("anything", None, 2)  # no labels: kept
    # soft labels: >= 0.5 is correct
    assert chain_agrees("Step 1: a. correct\nStep 2: b. incorrect", [0.75, 0.25], 2)
    assert normalise_chain("Sure.\nStep 1: a. correct\nStep 2: b. incorrect\nStep 3: c. correct", 3) == (
        "Step 1: a. correct\nStep 2: b. incorrect"
    )


def test_synthesis_through_a_fake_openai_server_keeps_only_agreeing_chains():
    from fake_openai_server import FakeServer, Reply, completion
    from prmkit.clients.openai_compat import OpenAIClient

    texts = [
        "I cannot check this.",  # malformed: no verdict line
        "Step 1: 4 x 3 = 12. correct\nStep 2: 12 - 4 = 8. correct",  # disagrees with labels [1, 0]
        "Let me check.\nStep 1: 4 x 3 = 12. correct\nStep 2: 12 - 4 = 8, not 9. incorrect\nStep 3: x. correct",
    ]

    def handler(path, body):
        return Reply(completion(texts, chat=True))

    recs = [_record(["4 x 3 = 12 balloons.", "12 - 4 = 9 balloons.", "The answer is 9."], "a"),
            _record(["4 + 3 = 7 balloons.", "The answer is 7."], "b")]  # fmt: skip
    with FakeServer(handler) as srv:
        client = OpenAIClient(srv.base_url, max_retries=0)
        kept, counts = synthesise_chains(recs, client, model="m", n=3)
        body = srv.requests[0][1]
        assert len(srv.requests) == 2  # one request per record, n chains each
    assert body["n"] == 3 and body["messages"][0]["role"] == "user"
    assert any("Step 1: 4 x 3 = 12 balloons." in b["messages"][0]["content"] for _, b in srv.requests)
    # record a: the third chain agrees (normalised); record b (error at step 1): none agrees
    assert [r.id for r in kept] == ["a"]
    assert (
        kept[0].meta["verification_chain"]
        == "Step 1: 4 x 3 = 12. correct\nStep 2: 12 - 4 = 8, not 9. incorrect"
    )
    assert counts == {"records": 2, "requests": 2, "chains": 6, "malformed": 2, "disagree": 3, "kept": 1}


# ---------------------------------------------------------------- data and loss


def test_loss_mask_is_exactly_the_verifier_lines():
    tok = load_tokenizer(resolve_model("arith-base"))
    rec = _record(["4 x 3 = 12 balloons.", "12 - 4 = 9 balloons.", "The answer is 9."])
    examples, stats = build_chain_examples([rec], tok, None)
    ex = examples[0]
    assert len(ex["input_ids"]) == len(ex["labels"])
    trained = [i for i, v in enumerate(ex["labels"]) if v != -100]
    assert all(ex["labels"][i] == ex["input_ids"][i] for i in trained)
    # the trained tokens are the two lines (and their newlines); everything else is the solution and markers
    assert (
        tok.decode([ex["input_ids"][i] for i in trained])
        == " 4 known, 3 known; 4 x 3 = 12, 12 - 12 = 0. correct\n 12 known, 4 known; 12 - 4 = 8, 9 - 8 = 1. incorrect\n"
    )
    segs = step_segments(tok, [rec.problem], [rec.steps])[0]
    marker = tok("Check:", add_special_tokens=False)["input_ids"]
    assert sum(v == -100 for v in ex["labels"]) == len(segs[0]) + len(segs[1]) + 2 * len(marker)
    assert stats.examples == 1 and stats.filtered_out == 0
    assert chain_lines(verification_chain(rec, rec.steps), 3) == [
        " 4 known, 3 known; 4 x 3 = 12, 12 - 12 = 0. correct",
        " 12 known, 4 known; 12 - 4 = 8, 9 - 8 = 1. incorrect",
    ]
    # a chain that disagrees with the labels is filtered out and counted
    bad = Solution(id="x", problem=rec.problem, steps=rec.steps, labels=[1.0, 1.0, 1.0],
                   meta={"verification_chain": "Step 1: a. correct\nStep 2: b. incorrect"})  # fmt: skip
    assert build_chain_examples([bad], tok, None)[1].filtered_out == 1
    # the verdict positions: the first tokens of " correct" and " incorrect" in each line
    assert tok.convert_ids_to_tokens([ex["input_ids"][i] for i in ex["verdict"]]) == ["\u0120c", "\u0120in"]
    # the window cuts the example
    assert len(chain_example([[1, 2, 3]], [4], [[5, 6]], 0, max_length=4)["labels"]) == 4


def test_verdict_weight_by_hand():
    # two trained tokens with losses ln 4 (uniform) and ~0 (certain); the second weighs 3: (ln 4 + 0) / 4
    logits = torch.zeros(1, 4, 4)
    logits[0, 2, 2] = 30.0
    labels = torch.tensor([[-100, -100, 1, 2]])
    w = torch.tensor([[1.0, 1.0, 1.0, 3.0]])
    assert float(sft_loss(logits, labels, w)) == pytest.approx(1.3863 / 4, abs=1e-4)
    ex = chain_example([[5], [6]], [3], [[8, 9], [7, 9]], 0, verdict_ids=(8, 7))
    assert ex["verdict"] == [2, 7]  # the last verdict-id token of each line
    from prmkit.train.generative import ChainCollator

    batch = ChainCollator(0, verdict_weight=5.0)([ex])
    assert batch["weights"][0, [2, 7]].tolist() == [5.0, 5.0] and float(batch["weights"].sum()) == 10 + 8


def test_sft_loss_by_hand():
    # uniform logits over 4 tokens: ln 4 per trained token; masked positions do not count
    logits = torch.zeros(1, 4, 4)
    assert float(sft_loss(logits, torch.tensor([[-100, -100, 1, 2]]))) == pytest.approx(1.3863, abs=1e-4)
    logits[0, 1, 1] = 10.0  # position 1 predicts token 1 (label at position 2) almost surely
    got = float(sft_loss(logits, torch.tensor([[-100, -100, 1, 2]])))
    assert got == pytest.approx((0.0 + 1.3863) / 2, abs=1e-3)


# ---------------------------------------------------------------- training, scoring, round trip


def _tiny_base(tmp_path, records):
    from prmkit.models.tiny import build_tiny_model, train_tokenizer

    texts = [r.problem for r in records] + [s for r in records for s in r.steps]
    texts += [verification_chain(r, r.steps) for r in records] * 3
    tok = train_tokenizer(texts, vocab_size=400)
    torch.manual_seed(0)
    model = build_tiny_model("causal-lm", tok, arch="llama", hidden_size=64, num_layers=2, num_heads=2,
                             max_position_embeddings=256)  # fmt: skip
    base = tmp_path / "base"
    model.save_pretrained(base)
    tok.save_pretrained(base)
    return str(base)


def test_training_loss_falls_scoring_stops_at_first_incorrect_and_round_trip(tmp_path):
    from prmkit.scorers import load_scorer
    from prmkit.train.trainer import train

    good = _record(["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons.", "The answer is 8."], "good")
    # phrased differently from the good one: a tiny model memorises which step 2 is which
    bad = _record(
        ["4 x 3 = 12 balloons.", "She uses 4 of them, so 12 - 4 = 9 balloons.", "The answer is 9."], "bad"
    )
    base = _tiny_base(tmp_path, [good, bad])
    out = tmp_path / "gv"
    res = train(TrainConfig(out=str(out), model=base, format="generative", max_steps=120, batch_size=2, lr=5e-3,
                            warmup_ratio=0.0, logging_steps=10, threads=1), train_records=[good, bad] * 4,
                eval_records=[good, bad])  # fmt: skip
    losses = [h["loss"] for h in res.log_history if "loss" in h]
    assert losses[-1] < 0.5 * losses[0]
    meta = json.loads((out / "prmkit.json").read_text())
    assert meta["format"] == "generative" and meta["loss"] == "sft"
    assert meta["verifier"] == {
        "k": 1,
        "temperature": 0.0,
        "aggregate": "mean",
        "tool": "none",
        "solve": False,
    }
    scorer = load_scorer(None, str(out))
    assert isinstance(scorer, GenerativeScorer)
    got = scorer.score_batch([good.problem, bad.problem], [good.steps, bad.steps])
    assert [len(s) for s in got] == [3, 3]  # one score per step
    assert all(v is not None and v > 0.5 for v in got[0])
    assert got[1][0] > 0.5 and got[1][1] < 0.5
    assert got[1][2] == 0.0  # after the first incorrect: 0 (the chain stopped there)
    chains = scorer.sample([bad.problem], [bad.steps])[0]
    assert (
        chains[0].text
        == "Step 1: 4 known, 3 known; 4 x 3 = 12, 12 - 12 = 0. correct\nStep 2: 12 known, 4 known; 12 - 4 = 8, 9 - 8 = 1. incorrect"
    )
    assert scorer.compute["chains"] == 3 and scorer.compute["generated_tokens"] > 0
    assert res.metrics["eval_pb_f1"] == 100.0
    # sampled chains: K per solution, options override prmkit.json
    sampled = load_scorer(None, str(out), k=3, temperature=1.0, aggregate="vote")
    assert len(sampled.sample([bad.problem], [bad.steps])[0]) == 3
    with pytest.raises(PrmkitError):
        GenerativeScorer(scorer.model, scorer.tokenizer, k=2, temperature=0.0)


def test_config_rules():
    assert TrainConfig(format="generative").loss == "sft"
    with pytest.raises(PrmkitError):
        TrainConfig(format="generative", loss="pqm")
    with pytest.raises(PrmkitError):
        TrainConfig(loss="sft")
    with pytest.raises(PrmkitError):
        TrainConfig(format="generative", verifier_k=4)  # greedy gives one chain
    with pytest.raises(PrmkitError):
        TrainConfig(format="generative", chain_source="llm")


def test_cli_train_generative_end_to_end(tmp_path):
    from typer.testing import CliRunner

    from prmkit.cli.app import app
    from prmkit.records import write_records

    data = tmp_path / "d.jsonl"
    write_records(data, make_bench(8, seed=3))
    out = tmp_path / "gv"
    r = CliRunner().invoke(app, ["train", "--format", "generative", "--init", "tiny", "--tiny-arch", "llama",
                                 "--tiny-hidden", "32", "--tiny-layers", "1", "--tiny-heads", "2",
                                 "--data", str(data), "--out", str(out), "--max-steps", "2", "--batch-size", "4",
                                 "--eval-fraction", "0.25", "--threads", "1", "--verifier-k", "2",
                                 "--verifier-temperature", "1.0", "--max-length", "256"])  # fmt: skip
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "prmkit.json").read_text())
    assert meta["format"] == "generative" and meta["verifier"]["k"] == 2
    assert "eval_pb_f1" in json.loads((out / "train_summary.json").read_text())["metrics"]


def test_positions_extend_a_rope_base_and_the_scorer_window_follows(tmp_path):
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    from prmkit.scorers import load_scorer
    from prmkit.train.trainer import extend_positions, train

    good = _record(["4 x 3 = 12 balloons.", "12 - 4 = 8 balloons.", "The answer is 8."], "good")
    base = _tiny_base(tmp_path, [good])  # 256 positions
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    ids = torch.randint(3, 300, (1, 200))
    before = model(input_ids=ids).logits
    extend_positions(model, 512)
    assert torch.equal(model(input_ids=ids).logits, before)  # inside the old window: unchanged
    assert model(input_ids=torch.randint(3, 300, (1, 400))).logits.shape[1] == 400  # past it: runs
    out = tmp_path / "gv"
    train(TrainConfig(out=str(out), model=base, format="generative", max_steps=1, batch_size=1, threads=1,
                      positions=512), train_records=[good], eval_records=[])  # fmt: skip
    assert json.loads((out / "config.json").read_text())["max_position_embeddings"] == 512
    assert load_scorer(None, str(out)).max_length == 512
    # learned position tables and scaled RoPE are refused, naming the field
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=64))
    with pytest.raises(PrmkitError, match="positions"):
        extend_positions(gpt2, 128)
    model.config.rope_parameters = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    with pytest.raises(PrmkitError, match="positions"):
        extend_positions(model, 1024)
    with pytest.raises(PrmkitError, match="positions"):
        TrainConfig(positions=0)
