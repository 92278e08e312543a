"""Agent trajectory formats: the OpenAI chat / AgentPRM / tool-pairs converters, the ``chat-tools``
PRM format (reference-exact against ``apply_chat_template(messages, tools=...)``), training and
scoring a tiny chat-tools PRM, and the pairwise-accuracy metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prmkit.errors import PrmkitError
from prmkit.formats import ConvertConfig, convert, detect_format, read_solutions, write_solutions
from prmkit.formats.tool_pairs import pair_solutions, read_pair
from prmkit.render import CHAT_TEMPLATES, get_format, render, render_many
from prmkit.trajectory import ToolCall, Turn, chat_messages, steps_from_turns

TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "Search the shop.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {"name": "answer", "description": "Give the final answer.",
     "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}},
]  # fmt: skip

OPENAI_ROW = {
    "id": "shop-1",
    "messages": [
        {"role": "system", "content": "You are a shopping agent."},
        {"role": "user", "content": "How much do a red mug and a blue plate cost together?"},
        {"role": "assistant", "content": "Look both up.", "tool_calls": [
            {"id": "a1", "type": "function", "function": {"name": "search", "arguments": '{"query": "red mug"}'}},
            {"id": "a2", "type": "function", "function": {"name": "search", "arguments": '{"query": "blue plate"}'}}]},
        {"role": "tool", "tool_call_id": "a1", "content": "[1] red mug $4"},
        {"role": "tool", "tool_call_id": "a2", "content": "[1] blue plate $3 — ünïcode"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_2", "type": "function", "function": {"name": "answer", "arguments": '{"text": "7"}'}}]},
        {"role": "tool", "tool_call_id": "call_2", "content": "correct"},
        {"role": "assistant", "content": "Done: $7.", "reasoning_content": "4 + 3 = 7"},
        {"role": "user", "content": "Thanks."},
    ],
    "tools": TOOLS,
    "labels": [1, 1, 1, 0.5],
    "source": "test",
}  # fmt: skip

AGENTPRM_ROLLOUT = {
    "gamefile": "pick_and_place_simple-Mug-None-Desk-308/trial_1",
    "trajectory": [
        {"observation": "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. Your task is to: put a mug in desk.",
         "candidate_actions": ["go to desk 1", "go to shelf 1"], "reason": "A mug may be on the shelf.",
         "action": "go to shelf 1", "score": 0, "agent_log": []},
        {"observation": "On the shelf 1, you see a mug 1.", "candidate_actions": ["take mug 1 from shelf 1"],
         "reason": "Take it.", "action": "take mug 1 from shelf 1", "score": 0, "agent_log": []},
        {"observation": "You pick up the mug 1 from the shelf 1.", "candidate_actions": ["go to desk 1"],
         "reason": "", "action": "go to desk 1", "score": 0, "agent_log": []},
        {"observation": "On the desk 1, you see nothing.", "candidate_actions": ["move mug 1 to desk 1"],
         "reason": "Put it down.", "action": "move mug 1 to desk 1", "score": 1, "agent_log": []},
    ],
    "task": "put a mug in desk.",
}  # fmt: skip

CASE = {
    "id": "case-0",
    "task": "What does the red mug cost?",
    "history": [{"action": {"name": "search", "arguments": {"query": "mug"}}, "thought": "Search.",
                 "observation": "[1] red mug $4\n[2] blue mug $5"}],
    "correct": {"action": {"name": "answer", "arguments": {"text": "4"}}, "thought": "Item 1 is red."},
    "incorrect": {"action": {"name": "answer", "arguments": {"text": "5"}}, "thought": "Item 2."},
    "error": "wrong_argument",
    "tools": TOOLS,
}  # fmt: skip


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _trajectories() -> list[tuple[str, list[Turn]]]:
    """Trajectories with tool calls, free-text actions, missing thoughts, unicode, one turn."""
    return [
        ("Find the price of the red mug.", [
            Turn(ToolCall("search", {"query": "red mug"}), observation="[1] red mug $4", thought="Search first."),
            Turn(ToolCall("answer", {"text": "4"}), thought="It costs $4.", observation="correct")]),
        ("Open the box.", [Turn("open box", observation="The box is locked."),
                           Turn("unlock box with key", thought="Use the key.", observation="Unlocked."),
                           Turn(ToolCall("answer", {"text": "done"}))]),
        ("Übersetze «Haus» → English.", [Turn(ToolCall("translate", {"text": "Haus", "to": "en"}),
                                              observation="house 🏠", thought="Übersetzen.")]),
        ("Nothing to do.", [Turn(ToolCall("answer", {}))]),
        ("Two lookups.", [Turn(ToolCall("search", {"query": "a"}), observation="A"),
                          Turn(ToolCall("search", {"query": "b", "n": [1, 2]}), observation="B"),
                          Turn(ToolCall("answer", {"text": "ab"}), thought="Both found.")]),
    ]  # fmt: skip


# ----------------------------------------------------------------------------- converters


def test_openai_round_trip_both_ways(tmp_path):
    src = _write(tmp_path / "chat.jsonl", [OPENAI_ROW])
    assert detect_format(src) == "openai-chat"
    [s] = list(read_solutions(src, "openai-chat"))
    assert (
        s.problem == OPENAI_ROW["messages"][1]["content"] and s.meta["system"] == "You are a shopping agent."
    )
    assert s.meta["tools"] == TOOLS and s.meta["source"] == "test" and s.labels == [1, 1, 1, 0.5]
    # one turn per tool call; the two calls of one message share a group, the thought goes with the first
    assert [t.action for t in s.turns] == [ToolCall("search", {"query": "red mug"}),
                                           ToolCall("search", {"query": "blue plate"}),
                                           ToolCall("answer", {"text": "7"}), "Done: $7."]  # fmt: skip
    assert [t.thought for t in s.turns] == ["Look both up.", None, None, "4 + 3 = 7"]
    assert [t.observation for t in s.turns] == [
        "[1] red mug $4",
        "[1] blue plate $3 — ünïcode",
        "correct",
        "Thanks.",
    ]
    assert s.turns[0].meta == {"tool_call_id": "a1", "tool_call_group": 0}
    assert s.turns[2].meta == {}  # the default id call_<turn> is not stored
    # openai -> canonical -> openai: identical
    canon = tmp_path / "canon.jsonl"
    convert(ConvertConfig(input=str(src), output=str(canon), from_format="openai-chat", quiet=True))
    back = tmp_path / "back.jsonl"
    convert(ConvertConfig(input=str(canon), output=str(back), to_format="openai-chat", quiet=True))
    assert json.loads(back.read_text(encoding="utf-8")) == OPENAI_ROW
    # canonical (turns) -> openai -> canonical: identical records
    again = list(read_solutions(back, "openai-chat"))
    assert [r.to_dict() for r in again] == [s.to_dict()]


def test_openai_from_steps_and_per_message_labels(tmp_path):
    from prmkit.records import Solution

    turns = _trajectories()[1][1]
    rec = Solution(id="x", problem="Open the box.", steps=steps_from_turns(turns), labels=[1.0, 0.0, None])
    f = tmp_path / "o.jsonl"
    write_solutions(f, [rec], "openai-chat")  # no turns: read from the step texts
    [back] = list(read_solutions(f, "openai-chat"))
    assert back.steps == rec.steps and back.labels == rec.labels
    row = {"messages": [{"role": "user", "content": "t"}, {"role": "assistant", "content": "go", "label": 0},
                        {"role": "user", "content": "ok"}, {"role": "assistant", "content": "stop", "label": True}]}  # fmt: skip
    [r] = list(read_solutions(_write(tmp_path / "m.jsonl", [row]), "openai-chat"))
    assert r.labels == [0.0, 1.0] and r.turns[0].observation == "ok"


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"messages": []}, "messages", "non-empty"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages[0]", "before the task"),
        ({"messages": [{"role": "user", "content": "t"}, {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]},
         "messages[1].tool_calls[0].function.arguments", "not valid JSON"),
        ({"messages": [{"role": "user", "content": "t"}, {"role": "tool", "tool_call_id": "zz", "content": "x"}]},
         "messages[1].tool_call_id", "answers no earlier"),
        ({"messages": [{"role": "user", "content": "t"}, {"role": "assistant", "content": "a"}], "labels": [1, 0]},
         "labels", "one per turn"),
        ({"messages": [{"role": "user", "content": "t"}, {"role": "assistant", "content": "a", "label": 3}]},
         "messages[1].label", "in [0, 1]"),
        ({"messages": [{"role": "user", "content": "t"}, {"role": "robot", "content": "a"}]}, "messages[1].role", "unknown"),
    ],
)  # fmt: skip
def test_openai_bad_input_names_file_line_field(tmp_path, row, field, words):
    f = _write(tmp_path / "bad.jsonl", [OPENAI_ROW, row])
    with pytest.raises(PrmkitError) as e:
        list(read_solutions(f, "openai-chat"))
    assert e.value.file == str(f) and e.value.line == 2 and e.value.field == field
    assert words in str(e.value)


def test_agentprm_mapping_and_round_trip(tmp_path):
    src = tmp_path / "0.json"  # the authors write one indented JSON object per rollout
    src.write_text(json.dumps(AGENTPRM_ROLLOUT, indent=4), encoding="utf-8")
    assert detect_format(src) == "agentprm"
    [s] = list(read_solutions(src, "agentprm"))
    traj = AGENTPRM_ROLLOUT["trajectory"]
    assert s.problem == traj[0]["observation"]  # the first observation is the problem text
    # Turn.observation is what came after the action: the next step's observation; the last is unknown
    assert [t.observation for t in s.turns] == [
        traj[1]["observation"],
        traj[2]["observation"],
        traj[3]["observation"],
        None,
    ]
    assert [t.thought for t in s.turns] == ["A mug may be on the shelf.", "Take it.", None, "Put it down."]
    assert s.labels == [1.0] * 4 and s.meta["outcome"] == 1
    assert s.turns[0].meta["candidate_actions"] == ["go to desk 1", "go to shelf 1"]
    # the PRM scores action t before its observation: step t shows observation t (the state before it)
    assert s.steps[1].startswith("Observation: On the shelf 1")
    out = tmp_path / "back.json"
    convert(
        ConvertConfig(
            input=str(src), output=str(out), from_format="agentprm", to_format="agentprm", quiet=True
        )
    )
    assert json.loads(out.read_text(encoding="utf-8")) == [AGENTPRM_ROLLOUT]
    # gamma: the single-rollout AgentPRM target 0.5 * (gamma^t * (2 * o - 1) + 1)
    [g] = list(read_solutions(src, "agentprm", gamma=0.5))
    assert g.labels == [1.0, 0.75, 0.625, 0.5625]
    failed = json.loads(json.dumps(AGENTPRM_ROLLOUT))
    failed["trajectory"][-1]["score"] = 0
    [f0] = list(read_solutions(_write(tmp_path / "f.jsonl", [failed]), "agentprm"))
    assert f0.labels == [0.0] * 4


def test_agentprm_from_canonical_and_bad_score(tmp_path):
    from prmkit.records import Solution

    turns = [Turn("look", observation="A mug.", thought="Look."), Turn("take mug")]
    rec = Solution(id="r", problem="A room.", steps=steps_from_turns(turns), labels=[1.0, 0.0], turns=turns)
    f = tmp_path / "a.jsonl"
    write_solutions(f, [rec], "agentprm")
    row = json.loads(f.read_text(encoding="utf-8"))
    assert row["trajectory"][1]["observation"] == "A mug." and [s["score"] for s in row["trajectory"]] == [
        0,
        0.0,
    ]
    [back] = list(read_solutions(f, "agentprm"))
    assert back.steps == rec.steps and back.labels == [0.0, 0.0]  # the outcome, for every step
    bad = json.loads(json.dumps(AGENTPRM_ROLLOUT))
    bad["trajectory"][2]["score"] = 10
    with pytest.raises(PrmkitError) as e:
        list(read_solutions(_write(tmp_path / "b.jsonl", [AGENTPRM_ROLLOUT, bad]), "agentprm"))
    assert (e.value.line, e.value.field) == (2, "trajectory[2].score")


def test_tool_pairs_read_write_and_errors(tmp_path):
    src = _write(tmp_path / "pairs.jsonl", [CASE])
    assert detect_format(src) == "tool-pairs"
    good, bad = list(read_solutions(src, "tool-pairs"))
    assert (good.id, bad.id) == ("case-0#correct", "case-0#incorrect")
    assert good.labels == [None, 1.0] and bad.labels == [None, 0.0] and good.meta["tools"] == TOOLS
    assert good.steps[0] == bad.steps[0] and good.steps[1] != bad.steps[1]
    out = tmp_path / "back.jsonl"
    write_solutions(out, [bad, good], "tool-pairs")  # either order
    assert json.loads(out.read_text(encoding="utf-8")) == CASE
    broken = {**CASE, "incorrect": {"action": {"name": "answer", "arguments": "{bad"}}}
    with pytest.raises(PrmkitError) as e:
        list(read_solutions(_write(tmp_path / "x.jsonl", [CASE, broken]), "tool-pairs"))
    assert (e.value.line, e.value.field) == (2, "incorrect.action.arguments")
    with pytest.raises(PrmkitError, match="only its correct side"):
        write_solutions(tmp_path / "y.jsonl", [good], "tool-pairs")


# ----------------------------------------------------------------------------- chat-tools fidelity


def _reference_ids(tok, problem: str, turns: list[Turn], tools, template) -> list[int]:
    """What the tokenizer's own chat template gives for the conversation the PRM sees: the last
    turn's observation comes after its score, so it is in no step and not in the conversation."""
    shown = [*turns[:-1], Turn(turns[-1].action, thought=turns[-1].thought)]
    kw = {"tools": tools} if tools is not None else {}
    out = tok.apply_chat_template(chat_messages(problem, shown), chat_template=template, tokenize=True, **kw)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def _check_fidelity(tok, fmt_tools):
    trajs = _trajectories()
    for tools in (None, fmt_tools):
        f = get_format("chat-tools", tools=json.dumps(tools) if tools else None)
        many = render_many([p for p, _ in trajs], [steps_from_turns(t) for _, t in trajs], f, tok)
        end = tok.convert_tokens_to_ids("<|im_end|>")
        for (problem, turns), r in zip(trajs, many, strict=True):
            assert r.input_ids == _reference_ids(tok, problem, turns, tools, CHAT_TEMPLATES.get("qwen2.5"))
            assert len(r.step_positions) == len(turns) and r.truncated == 0
            # every score position is the <|im_end|> closing an assistant message
            text = tok.decode(r.input_ids)
            assert text.count("<|im_start|>assistant") == len(turns)
            for p in r.step_positions:
                assert p is not None
                if end is not None and end != tok.unk_token_id:
                    assert r.input_ids[p] == end
                before = tok.decode(r.input_ids[: p + 1])
                assert before.endswith("<|im_end|>") and before.rfind("<|im_start|>") == before.rfind(
                    "<|im_start|>assistant"
                )


def test_chat_tools_matches_apply_chat_template_on_qwen2(shared_data):
    from test_fidelity import _cached_gguf_tokenizer  # converted once, cached (skips without gguf)

    tok = _cached_gguf_tokenizer(shared_data / "tokenizers" / "ggml-vocab-qwen2.gguf")
    _check_fidelity(tok, TOOLS)
    # a window cuts the later steps off (None), never shifts them
    problem, turns = _trajectories()[4]
    full = render(problem, steps_from_turns(turns), "chat-tools", tok)
    cut = render(problem, steps_from_turns(turns), "chat-tools", tok, max_length=full.step_positions[1] + 1)
    assert cut.step_positions == [*full.step_positions[:2], None] and cut.truncated == 1


def test_chat_tools_matches_apply_chat_template_on_tiny_tokenizer():
    from prmkit.models.tiny import SPECIAL_TOKENS, train_tokenizer

    texts = [p + " " + " ".join(steps_from_turns(t)) for p, t in _trajectories()]
    for specials in (SPECIAL_TOKENS, [*SPECIAL_TOKENS, "<|im_start|>", "<|im_end|>"]):
        tok = train_tokenizer(
            texts, vocab_size=400, special_tokens=specials, chat_template=CHAT_TEMPLATES.get("qwen2.5")
        )
        _check_fidelity(tok, TOOLS)


def test_chat_tools_math_steps_are_free_text_messages_and_pieces_refused():
    from prmkit.models.tiny import train_tokenizer

    tok = train_tokenizer(["a b c"], vocab_size=280, chat_template=CHAT_TEMPLATES.get("qwen2.5"))
    r = render("1+1?", ["1+1=2", "The answer is 2."], "chat-tools", tok)  # not trajectory steps
    msgs = [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "1+1=2"},
            {"role": "assistant", "content": "The answer is 2."}]  # fmt: skip
    assert r.text == tok.apply_chat_template(msgs, tokenize=False) and len(r.step_positions) == 2
    with pytest.raises(PrmkitError, match="needs tokenize='whole'"):
        render("q", ["Action: a"], get_format("chat-tools", tokenize="pieces"), tok)


# ----------------------------------------------------------------------------- train + score


def test_train_and_score_a_tiny_chat_tools_prm(tmp_path):
    from prmkit.scorers import load_scorer
    from prmkit.train import TrainConfig, train

    src = _write(tmp_path / "chat.jsonl", [OPENAI_ROW])
    [base] = list(read_solutions(src, "openai-chat"))
    recs = []
    for k, (problem, turns) in enumerate(_trajectories()):
        from prmkit.records import Solution

        labels = [float((k + j) % 2) for j in range(len(turns))]
        recs.append(Solution(id=f"t{k}", problem=problem, steps=steps_from_turns(turns), turns=turns,
                             labels=labels, meta={"tools": TOOLS}))  # fmt: skip
    assert base.meta["tools"] == TOOLS
    out = tmp_path / "prm"
    cfg = TrainConfig(out=str(out), format="chat-tools", init="tiny", tiny_hidden=32, tiny_layers=1, tiny_heads=2,
                      tiny_vocab=400, batch_size=5, max_steps=3, lr=1e-2, logging_steps=1, max_length=1024, threads=1)  # fmt: skip
    res = train(cfg, train_records=recs, eval_records=[])
    assert res.global_step == 3
    meta = json.loads((out / "prmkit.json").read_text(encoding="utf-8"))
    assert meta["format"] == "chat-tools" and json.loads(meta["prm_format"]["tools"]) == TOOLS
    scorer = load_scorer(None, str(out))
    assert scorer.fmt.tools == meta["prm_format"]["tools"] and scorer.fmt.layout == "chat-tools"
    scored = list(scorer.score_records(iter(recs), batch_size=5))
    for r in scored:
        assert r.scores is not None and len(r.scores) == len(r.steps)
        assert all(s is not None and 0.0 < s < 1.0 for s in r.scores)
    with pytest.raises(PrmkitError, match="different tool schema lists"):
        train(cfg, train_records=[recs[0], Solution(id="z", problem="p", steps=["Action: x"], labels=[1.0],
                                                    meta={"tools": TOOLS[:1]})], eval_records=[])  # fmt: skip


# ----------------------------------------------------------------------------- pairwise metric


def test_pairwise_accuracy_ties_and_ci():
    from prmkit.evaluate.pairwise import pairwise_accuracy

    r = pairwise_accuracy([0.9, 0.2, 0.5, None], [0.1, 0.8, 0.5, 0.3], n_boot=500)
    assert r["accuracy"] == pytest.approx((1 + 0 + 0.5 + 0.5) / 4)
    assert (r["wins"], r["ties"], r["losses"], r["unscored"]) == (1, 2, 1, 1)
    assert 0.0 <= r["ci"][0] <= r["accuracy"] <= r["ci"][1] <= 1.0
    assert pairwise_accuracy([1.0] * 5, [0.0] * 5, n_boot=100)["ci"] == [1.0, 1.0]
    with pytest.raises(PrmkitError):
        pairwise_accuracy([], [])


def test_eval_pairwise_run_and_cli_with_precomputed_scores(tmp_path):
    from prmkit.evaluate.run import PairwiseConfig, run_pairwise

    recs = []
    for k in range(6):
        case = {**CASE, "id": f"c{k}", "error": "wrong_argument" if k % 2 else "wrong_tool"}
        good, bad = pair_solutions(read_pair(case))
        good.scores, bad.scores = [0.5, 0.9 if k < 4 else 0.1], [0.5, 0.2 if k != 3 else 0.9]
        recs += [good, bad]
    scores = tmp_path / "scored.jsonl"
    write_solutions(scores, recs)
    outcome = run_pairwise(PairwiseConfig(scores=str(scores), n_boot=200))
    res = outcome.result
    assert res["n"] == 6 and res["accuracy"] == pytest.approx(3.5 / 6)  # 3 wins, 1 tie, 2 losses
    assert res["by_error"]["wrong_tool"]["accuracy"] == pytest.approx(2 / 3)
    assert (
        outcome.results_path == tmp_path / "scored.pairwise" / "results.json"
        and outcome.report_path.is_file()
    )
    assert "| all (6) | 58.3 |" in outcome.markdown
    with pytest.raises(PrmkitError, match="either --pairs"):
        run_pairwise(PairwiseConfig(scores=str(scores), pairs=str(scores)))

    from typer.testing import CliRunner

    from prmkit.cli import app

    r = CliRunner().invoke(app, ["eval", "pairwise", "--scores", str(scores), "--n-boot", "100",
                                 "--out", str(tmp_path / "cli")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cli" / "results.json").is_file()


def test_eval_pairwise_with_a_scorer(tmp_path):
    from prmkit.evaluate.pairwise import evaluate_pairs, score_pairs
    from prmkit.scorers.base import Scorer

    class PrefersFour(Scorer):
        def score_batch(self, problems, steps):
            return [[1.0 if '"4"' in s else 0.0 for s in ss] for ss in steps]

    pairs = [read_pair({**CASE, "id": f"c{k}"}) for k in range(3)]
    res = evaluate_pairs(score_pairs(PrefersFour(), pairs), n_boot=100)
    assert res["accuracy"] == 1.0 and res["by_error"]["wrong_argument"]["n"] == 3
