"""Judge scorer: prompt format, parsing, voting, unparsable handling (canned responses from a fake
server) and a structural run against the real llama.cpp server (SmolLM2; its verdicts are poor)."""

from __future__ import annotations

import pytest

from fake_openai_server import FakeServer, Reply, completion
from llama_server import llama_server_fixture  # noqa: F401 - provides the `llama_server` fixture
from prmkit.errors import PrmkitError
from prmkit.scorers import SCORERS, load_scorer
from prmkit.scorers.judge import (
    JudgeScorer,
    critique_prompt,
    majority,
    parse_verdict,
    scores_from_first_error,
)

STEPS = ["2*3 = 6", "6 + 1 = 8", "The answer is 8."]


def test_registered_and_load_uses_path_as_model():
    assert "judge" in SCORERS
    j = load_scorer("judge", "my-model", base_url="http://127.0.0.1:1", k=3)
    assert isinstance(j, JudgeScorer) and j.model == "my-model" and j.k == 3


def test_prompt_is_processbench_critique_format():
    p = critique_prompt("What is 2*3+1?", STEPS)
    assert "[Math Problem]\n\nWhat is 2*3+1?\n\n[Solution]\n\n<paragraph_0>\n2*3 = 6\n</paragraph_0>\n\n" in p
    assert "<paragraph_2>\nThe answer is 8.\n</paragraph_2>\n\nYour task is to review" in p
    assert p.endswith("Please put your final answer (i.e., the index) in \\boxed{}.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The error is in paragraph 1. \\boxed{1}", 1),
        ("All fine. Final: \\boxed{-1}", -1),
        ("first \\boxed{0} but actually \\boxed{2}", 2),
        ("\\boxed{ 1 }", 1),
        ("\\boxed{3}", None),  # out of range for 3 steps
        ("\\boxed{-2}", None),
        ("\\boxed{paragraph 1}", None),
        ("the earliest error is 1", None),
        ("\\boxed{1", None),
    ],
)
def test_parse_verdict(text, expected):
    assert parse_verdict(text, n_steps=3) == expected


def test_majority_and_scores():
    assert majority([1, -1, 1, None]) == 1
    assert majority([2, 1]) == 2  # tie: first seen
    assert majority([None]) is None
    assert scores_from_first_error(0, 2) == [0.0, 0.0]
    assert scores_from_first_error(2, 3) == [1.0, 1.0, 0.0]


def _canned(answers_by_problem):
    """Reply with the canned critiques for the problem named in the prompt (first line of it)."""

    def handler(path, body):
        if path.endswith("/models"):
            return Reply({"data": [{"id": "judge-model"}]})
        prompt = body["messages"][-1]["content"]
        for key, answers in answers_by_problem.items():
            if f"\n\n{key}\n\n" in prompt:
                return Reply(completion(answers[: body["n"]], chat=True, tokens=5 * body["n"]))
        return Reply({"error": "unknown problem"}, status=400)

    return handler


def test_score_batch_majority_over_k_and_unparsable_handling():
    canned = {
        "P-one": ["\\boxed{1}", "hmm \\boxed{-1}", "\\boxed{1}"],
        "P-two": ["\\boxed{-1}", "\\boxed{-1}", "\\boxed{0}"],
        "P-three": ["I cannot tell", "\\boxed{7}", "no box"],
    }
    with FakeServer(_canned(canned)) as srv:
        j = JudgeScorer(srv.base_url, k=3, temperature=0.7, max_tokens=64)
        scores = j.score_batch(["P-one", "P-two", "P-three", "P-four"], [STEPS, STEPS[:2], STEPS, []])
        sent = [b for p, b in srv.requests if p.endswith("/chat/completions")]
    assert scores == [[1.0, 0.0, 0.0], [1.0, 1.0], [None, None, None], []]
    assert j.stats == {"solutions": 3, "samples": 9, "unparsable_samples": 3, "unparsable_solutions": 1}
    assert len(sent) == 3  # one request per non-empty solution, k in `n`
    assert all(b["n"] == 3 and b["temperature"] == 0.7 and b["model"] == "judge-model" for b in sent)
    assert j.client.usage["completion_tokens"] == 45
    # configurable default for unparsable: 0.0 (ProcessBench counts it as a miss)
    with FakeServer(_canned(canned)) as srv:
        strict = JudgeScorer(srv.base_url, model="m", k=3, on_unparsable=0.0)
        assert strict.score_batch(["P-three"], [STEPS]) == [[0.0, 0.0, 0.0]]


def test_k_samples_requested_one_by_one_when_server_ignores_n():
    def handler(path, body):  # always one choice, answer depends on the seed sent
        return Reply(completion([f"\\boxed{{{body['seed'] % 2}}}"], chat=True))

    with FakeServer(handler) as srv:
        j = JudgeScorer(srv.base_url, model="m", k=4)
        v = j.judge(["Q"], [STEPS])[0]
        v2 = j.judge(["Q"], [STEPS])[0]
        seeds = [b["seed"] for _, b in srv.requests]
    assert len(v.votes) == 4 and len(srv.requests) == 8
    assert len(set(seeds[:4])) == 4 and seeds[:4] == seeds[4:]  # distinct per sample, stable per solution
    assert v.votes == v2.votes and v.first_error in (0, 1)


def test_invalid_options():
    with pytest.raises(PrmkitError, match="k must be"):
        JudgeScorer("http://127.0.0.1:1", k=0)
    with pytest.raises(PrmkitError, match="on_unparsable"):
        JudgeScorer("http://127.0.0.1:1", on_unparsable=2)


@pytest.mark.server
def test_judge_against_real_llama_cpp_server(llama_server):
    j = JudgeScorer(llama_server.base_url, k=2, temperature=0.7, max_tokens=32, seed=1)
    scores = j.score_batch(["What is 2*3+1?"], [STEPS])
    assert len(scores) == 1 and len(scores[0]) == len(STEPS)
    assert all(x is None for x in scores[0]) or all(x in (0.0, 1.0) for x in scores[0])
    assert j.stats["solutions"] == 1 and j.stats["samples"] == 2
    # same prompt again (llama.cpp reuses the cached prompt): the verdict's structure
    v = j.judge(["What is 2*3+1?"], [STEPS])[0]
    assert len(v.votes) == len(v.texts) == 2 and all(t.strip() for t in v.texts)
    assert v.completion_tokens > 0
    assert v.first_error is None or -1 <= v.first_error < len(STEPS)
    assert v.votes == [parse_verdict(t, len(STEPS)) for t in v.texts]
