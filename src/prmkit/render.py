"""The one step-rendering function, shared by training and every neural scorer.

``render(problem, steps, fmt, tokenizer)`` turns a solution into token ids plus the position at
which each step's score is read: exactly one position per step, or ``None`` for a step beyond
``max_length`` (counted in ``truncated``, never shifted onto another step).

A PRM *format* is data (:class:`PRMFormat`), registered by name in :data:`PRM_FORMATS`. How the
ids are made is the format's ``tokenize`` field:

- ``whole``: the string its authors' code builds, tokenized in one call (special tokens as that
  code adds them), and each step's score position found from the tokenizer's offset mapping. A
  tag that merged into the following text or vanished is an error naming the solution and step.
  Third-party PRMs (Math-Shepherd, Qwen2.5-Math-PRM, RLHFlow) see exactly their reference ids.
- ``steps``: the prompt (problem + ``prompt_suffix``) tokenized whole, then each step tokenized
  alone followed by the ids of ``step_tag`` (TRL's ``PRMTrainer.tokenize_row``, Skywork-o1 PRM).
- ``pieces``: prmkit's own layout for the models it trains: every text piece tokenized alone and
  tags inserted as ids, so a tag can never merge with its neighbours.

The ``chat-prefixes`` layout (EurusPRM / PRIME implicit PRM) is ``whole`` too, but its score
positions are not read from offsets: as in its authors' code, the position of step ``t`` is
counted from the tokenization of the conversation cut after step ``t`` (see :func:`_whole_prefixes`).

==========================  =========  =====================================================  ==============
name                        tokenize   layout (reference)                                     read head
==========================  =========  =====================================================  ==============
``token-classification``    pieces     ``problem SEP step1 SEP step2 SEP``, SEP = ``"\\n"``     2-class head
``value-head``              pieces     same layout                                            scalar head
``implicit``                pieces     ``problem \\n\\n step1 \\n\\n ...``; step token spans      LM log-ratio
``trl``                     steps      BOS, problem, each step + ``"\\n"`` (TRL PRMTrainer)     2-class head
``skywork-prm``             steps      BOS, ``problem\\n``, each step + ``"\\n"`` (Skywork-o1)    scalar head
``lm-token-pair``           whole      ``problem step1 ки\\nstep2 ки`` (Math-Shepherd card)    ``+``/``-`` logits
``qwen-prm``                whole      chat template, steps joined by ``<extra_0>`` (card)   2-class head
``chat-turn``               whole      one user turn per step, assistant ``+`` (RLHFlow)     ``+``/``-`` logits
``eurus-prm``               whole      chat, steps joined by ``"\\n\\n"`` (EurusPRM card)       LM log-ratio
``chat-tools``              whole      agent turns as a tool-calling chat (Qwen2.5 template)  2-class head
``*-pieces``                pieces     prmkit's separate-pieces variant of the three above    as above
==========================  =========  =====================================================  ==============

Example:
    >>> from prmkit.models.tiny import train_tokenizer
    >>> tok = train_tokenizer(["Tom has 3 apples. 3 + 4 = 7. The answer is 7."], vocab_size=300)
    >>> r = render("Tom has 3 apples.", ["3 + 4 = 7.", "The answer is 7."], "token-classification", tok)
    >>> len(r.step_positions)
    2
    >>> r2 = render("Tom has 3 apples.", ["3 + 4 = 7.", "The answer is 7."], "lm-token-pair", tok)
    >>> r2.input_ids == tok(r2.text)["input_ids"]     # whole string, one tokenizer call
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from prmkit.errors import PrmkitError
from prmkit.registry import Registry
from prmkit.trajectory import Turn, chat_messages, turns_from_steps

Head = Literal["classification", "token-pair", "value", "log-ratio", "likelihood"]
Layout = Literal["plain", "chat", "chat-turns", "chat-prefixes", "chat-tools"]
Tokenize = Literal["pieces", "steps", "whole"]

QWEN_MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class PRMFormat:
    """How a family of PRMs sees a solution and where/how it reads a step score.

    Attributes:
        name: registry name (also written to ``prmkit.json``).
        head: ``classification`` (softmax over a class head, ``positive_index``),
            ``token-pair`` (softmax over the LM logits of ``good_token``/``bad_token``),
            ``value`` (sigmoid of a scalar head) or ``log-ratio`` (implicit PRM).
        layout: ``plain`` (problem then steps), ``chat`` (chat template: system, user = problem,
            assistant = tagged steps), ``chat-turns`` (one user turn per step, assistant
            answers ``good_token``) or ``chat-prefixes`` (user = problem, assistant =
            ``step_join.join(steps)``, step positions counted from the prefix conversations:
            EurusPRM, see :func:`_whole_prefixes`; ``whole`` only) or ``chat-tools`` (an agent
            trajectory as a tool-calling chat: user = problem, one assistant message per turn,
            tool results as tool messages; steps are :mod:`prmkit.trajectory` step texts (other
            steps: one free-text assistant message each);
            score at the last ``step_tag`` of each assistant message; ``whole`` only, see
            :func:`_whole_tools`).
        step_tag: text whose tokens follow every step; the score is read at its last token.
        prompt_suffix: text whose tokens follow the problem in the ``plain`` layout.
        step_suffix: text whose tokens follow each step tag (not read), e.g. a newline.
        add_bos: prepend the tokenizer's BOS token (``None``: when the tokenizer itself does; in
            ``whole`` mode ``None`` means the special tokens the tokenizer adds itself, as
            ``tokenizer.encode(text)`` does).
        tokenize: ``pieces`` (prmkit's own: every piece alone, tags as ids), ``steps`` (prompt
            whole, each step alone + tag ids: TRL, Skywork) or ``whole`` (one string, positions
            from the offset mapping: model cards). See the module docstring.
        step_join: ``whole`` + ``plain``: text between one step's tag and the next step
            (Math-Shepherd: ``"\\n"``); ``step_suffix`` then follows the last tag only.
            ``chat-prefixes``: the text between steps (EurusPRM: ``"\\n\\n"``).
        chat_template: a name in :data:`CHAT_TEMPLATES` or a Jinja template used instead of the
            tokenizer's own (``None`` or ``"tokenizer"``: the tokenizer's).
        tools: ``chat-tools``: the tool schemas (a JSON array, as text) given to the chat
            template as ``tools=``; ``None``: no tools section.
        reference: where the layout comes from (documentation only).
    """

    name: str
    head: Head
    layout: Layout = "plain"
    step_tag: str = "\n"
    prompt_suffix: str = "\n"
    step_suffix: str = ""
    system_prompt: str | None = None
    good_token: str = "+"
    bad_token: str = "-"
    positive_index: int = 1
    add_bos: bool | None = None
    tokenize: Tokenize = "pieces"
    step_join: str = ""
    chat_template: str | None = None
    tools: str | None = None
    reference: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "head": self.head,
            "layout": self.layout,
            "step_tag": self.step_tag,
            "prompt_suffix": self.prompt_suffix,
            "step_suffix": self.step_suffix,
            "system_prompt": self.system_prompt,
            "good_token": self.good_token,
            "bad_token": self.bad_token,
            "positive_index": self.positive_index,
            "add_bos": self.add_bos,
            "tokenize": self.tokenize,
            "step_join": self.step_join,
            "chat_template": self.chat_template,
        }
        if self.tools is not None:  # only chat-tools formats have tools
            d["tools"] = self.tools
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PRMFormat:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "meta"}
        return cls(**known)


PRM_FORMATS: Registry[PRMFormat] = Registry("PRM format")


def _reg(fmt: PRMFormat) -> None:
    PRM_FORMATS.register(fmt.name)(fmt)


MATH_SHEPHERD_CARD = "peiyi9979/math-shepherd-mistral-7b-prm model card"
QWEN_PRM_CARD = "Qwen/Qwen2.5-Math-PRM-7B model card"
RLHFLOW_EVAL = "RLHFlow/RLHF-Reward-Modeling math-rm/prm_evaluate.py"
EURUS_PRM_CARD = "PRIME-RL/EurusPRM-Stage2 model card (PRIME-RL/ImplicitPRM eval/processbench.py)"

_reg(PRMFormat("token-classification", head="classification", reference="prmkit"))
_reg(PRMFormat("value-head", head="value", reference="prmkit"))
_reg(PRMFormat("lm-likelihood", head="likelihood", reference="prmkit"))
_reg(PRMFormat("implicit", head="log-ratio", step_tag="\n\n", prompt_suffix="\n\n", reference="prmkit"))
_reg(
    PRMFormat(
        "trl",
        head="classification",
        tokenize="steps",
        prompt_suffix="",
        add_bos=True,
        reference="trl PRMTrainer.tokenize_row",
    )
)
_reg(
    PRMFormat(
        "skywork-prm",
        head="value",
        tokenize="steps",
        prompt_suffix="\n",
        add_bos=True,
        reference="SkyworkAI/skywork-o1-prm-inference prepare_input",
    )
)
# Math-Shepherd: f"{question} {output}", output = "\n".join(step + " ки"), tokenizer.encode (BOS)
_reg(
    PRMFormat(
        "lm-token-pair",
        head="token-pair",
        tokenize="whole",
        step_tag=" ки",
        prompt_suffix=" ",
        step_join="\n",
        reference=MATH_SHEPHERD_CARD,
    )
)
_reg(
    PRMFormat(
        "lm-token-pair-pieces",
        head="token-pair",
        step_tag="ки",
        prompt_suffix=" ",
        step_suffix="\n",
        reference="prmkit",
    )
)
# Qwen2.5-Math-PRM: system + user + assistant "<extra_0>".join(steps) + "<extra_0>", encode(text)
_qwen = PRMFormat(
    "qwen-prm",
    head="classification",
    layout="chat",
    tokenize="whole",
    step_tag="<extra_0>",
    prompt_suffix="",
    system_prompt=QWEN_MATH_SYSTEM,
    reference=QWEN_PRM_CARD,
)
_reg(_qwen)
_reg(replace(_qwen, name="qwen-prm-pieces", tokenize="pieces", reference="prmkit"))
# RLHFlow: user turns (problem + " " + step1, step2, ...), assistant "+", apply_chat_template
_chat = PRMFormat(
    "chat-turn",
    head="token-pair",
    layout="chat-turns",
    tokenize="whole",
    step_tag="",
    prompt_suffix="",
    add_bos=False,
    reference=RLHFLOW_EVAL,
)
_reg(_chat)
_reg(replace(_chat, name="chat-turn-pieces", tokenize="pieces", add_bos=None, reference="prmkit"))
# EurusPRM / PRIME implicit PRM. Source: the PRIME-RL/EurusPRM-Stage1 and -Stage2 model cards
# (huggingface.co/PRIME-RL/EurusPRM-Stage2, "Usage") and the authors' ProcessBench script
# github.com/PRIME-RL/ImplicitPRM eval/processbench.py (commit c04417559fdbd59738187c613c6c31821e964431):
#   input_ids = apply_chat_template([user: query, assistant: "\n\n".join(steps)], tokenize=True)
#   for step_num in 0..len(steps): conv = apply_chat_template(<the same, steps[:step_num]>,
#       tokenize=False).strip(); conv += "\n\n" unless step_num is 0 or the last;
#       step_last_tokens.append(len(encode(conv, add_special_tokens=False)) - 2)
#   per-token log-ratio of policy and reference, masked before step_last_tokens[0],
#   coef * cumsum, gathered at step_last_tokens[1:] (coef = 0.001).
_reg(
    PRMFormat(
        "eurus-prm",
        head="log-ratio",
        layout="chat-prefixes",
        tokenize="whole",
        step_tag="",
        prompt_suffix="",
        step_join="\n\n",
        add_bos=False,
        reference=EURUS_PRM_CARD,
    )
)

# Agent trajectories as a tool-calling chat (prmkit's format; reference-exact against
# tokenizer.apply_chat_template(messages, tools=..., tokenize=True) with the Qwen2.5-Instruct template):
# score at the <|im_end|> closing each assistant message, i.e. after the action, before its result.
_reg(
    PRMFormat(
        "chat-tools",
        head="classification",
        layout="chat-tools",
        tokenize="whole",
        step_tag="<|im_end|>",
        prompt_suffix="",
        add_bos=False,
        chat_template="qwen2.5",
        reference="Qwen/Qwen2.5-7B-Instruct chat template (tool calls), via apply_chat_template",
    )
)

#: Chat templates kept as data (``PRMFormat.chat_template`` may name one): the template of the
#: model's published tokenizer config, for tokenizers that ship without one.
CHAT_TEMPLATES: Registry[str] = Registry("chat template")


def _template_file(name: str, filename: str) -> None:
    from importlib.resources import files

    CHAT_TEMPLATES.register(name)((files("prmkit") / "chat_templates" / filename).read_text(encoding="utf-8"))


# Llama-3.1-8B-Instruct's tokenizer_config.json chat_template (RLHFlow Llama3.1-8B-PRM-* use it)
_template_file("llama-3.1", "llama-3.1.j2")
# Qwen/Qwen2.5-Math-7B-Instruct's tokenizer_config.json chat_template (the Qwen2.5 template with
# the default system "Please reason step by step, and put your final answer within \\boxed{}.");
# EurusPRM's reference model. The EurusPRM checkpoints ship their own tokenizer config, which
# eurus-prm uses by default; this one is for tokenizers without it (e.g. a Qwen2 GGUF).
_template_file("qwen2.5-math-instruct", "qwen2.5-math-instruct.j2")
# Qwen/Qwen2.5-7B-Instruct's tokenizer_config.json chat_template: the same template with the default
# system "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."; it renders tool schemas
# (tools=) and assistant tool_calls (Hermes-style <tool_call> JSON). The default of chat-tools.
_template_file("qwen2.5", "qwen2.5.j2")


def get_format(fmt: str | PRMFormat, **overrides: Any) -> PRMFormat:
    """A registered format by name (or the format itself), with optional field overrides.

    Example:
        >>> get_format("lm-token-pair").step_tag
        ' ки'
        >>> get_format("token-classification", step_tag=" <step>").step_tag
        ' <step>'
    """
    base = fmt if isinstance(fmt, PRMFormat) else PRM_FORMATS.get(fmt)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **overrides) if overrides else base


@dataclass
class Rendered:
    """Token ids of one solution and where each step is scored.

    ``step_positions[i]`` is the index in ``input_ids`` whose output scores step ``i`` (``None``
    if it fell beyond the window). ``step_spans[i]`` is the ``[start, end)`` range of step ``i``'s
    own text tokens (used by the implicit PRM; in ``whole`` formats, the tokens overlapping the
    step's characters; in ``chat-prefixes`` (EurusPRM), the tokens its reference sums into step
    ``i`` before its position: from just after the previous step's position, or from the
    reference's first summed token for step 0). ``truncated`` counts steps lost to the window.
    """

    input_ids: list[int]
    step_positions: list[int | None]
    step_spans: list[tuple[int, int] | None]
    truncated: int = 0
    #: the string that was tokenized whole (``whole`` formats), else ``None``
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def attention_mask(self) -> list[int]:
        return [1] * len(self.input_ids)

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_texts(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, encoded separately (no special tokens) in ONE tokenizer call.

    Equal to ``[tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]`` (empty
    texts give ``[]``, repeated texts are encoded once). A fast tokenizer whose backend has no
    truncation or padding set is called directly (``encode_batch_fast``: no offsets, no
    ``BatchEncoding``), which is what its ``__call__`` does underneath.

    Example:
        >>> from prmkit.models.tiny import train_tokenizer
        >>> tok = train_tokenizer(["a b c"], vocab_size=280)
        >>> ab = tok("a b", add_special_tokens=False)["input_ids"]
        >>> encode_texts(tok, ["a b", "", "a b"]) == [ab, [], ab]
        True
    """
    uniq = list(dict.fromkeys(t for t in texts if t))
    if not uniq:
        return [[] for _ in texts]
    backend = getattr(tokenizer, "_tokenizer", None)
    fast = getattr(backend, "encode_batch_fast", None)
    if fast is not None and backend.truncation is None and backend.padding is None:
        ids = [e.ids for e in fast(uniq, add_special_tokens=False)]
    else:
        ids = [list(x) for x in tokenizer(uniq, add_special_tokens=False)["input_ids"]]
    by_text = dict(zip(uniq, ids, strict=True))
    return [by_text[t] if t else [] for t in texts]


def _tag_ids(tokenizer: Any, tag: str) -> list[int]:
    """Ids of a step tag: one id when the tag is a single (added) token, else its tokenization."""
    if not tag:
        return []
    tid = tokenizer.convert_tokens_to_ids(tag)
    unk = getattr(tokenizer, "unk_token_id", None)
    if isinstance(tid, int) and tid >= 0 and (unk is None or tid != unk):
        return [tid]
    ids = encode_texts(tokenizer, [tag])[0]
    if not ids:
        raise PrmkitError(f"step tag {tag!r} tokenizes to nothing", field="step_tag")
    return ids


def _single_token_id(tokenizer: Any, token: str, what: str) -> int:
    """The id of ``token`` as the tokenizer encodes it alone (the references' ``tokenizer.encode("+")[-1]``
    and ``tokenizer.encode("+ -")[1:]``: ``▁+``/``▁-`` = 648/387 on Mistral), else its vocabulary id.

    Example:
        >>> from prmkit.models.tiny import train_tokenizer
        >>> tok = train_tokenizer(["a + b - c"], vocab_size=280)
        >>> _single_token_id(tok, "+", "good token") == tok("+", add_special_tokens=False)["input_ids"][0]
        True
    """
    ids = encode_texts(tokenizer, [token])[0]
    if len(ids) == 1:
        return ids[0]
    ids = _tag_ids(tokenizer, token)
    if len(ids) != 1:
        raise PrmkitError(f"{what} {token!r} must be a single token for this tokenizer, got ids {ids}")
    return ids[0]


def _wants_bos(fmt: PRMFormat, tokenizer: Any) -> bool:
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    if fmt.add_bos is not None:
        return fmt.add_bos
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


_STEP_MARK = "\u2063PRMKIT_STEP_{}\u2063"
_ANSWER_MARK = "\u2063PRMKIT_ANSWER_{}\u2063"


def _chat_pieces(fmt: PRMFormat, tokenizer: Any, problem: str, n_steps: int) -> list[str]:
    """Render the chat template with markers and split it into literal text pieces.

    Returns ``2 * n_steps + 1`` pieces for ``chat-turns`` (text around each step and answer) and
    ``2`` pieces for ``chat`` (text before and after the assistant's tagged steps).
    """
    msgs: list[dict[str, str]] = []
    if fmt.system_prompt is not None:
        msgs.append({"role": "system", "content": fmt.system_prompt})
    if fmt.layout == "chat":
        msgs.append({"role": "user", "content": problem})
        msgs.append({"role": "assistant", "content": _STEP_MARK.format("ALL")})
        marks = [_STEP_MARK.format("ALL")]
    elif n_steps == 0:  # nothing to score: the problem as the one user turn
        msgs.append({"role": "user", "content": problem})
        marks = []
    else:
        marks = []
        for i in range(n_steps):
            content = _STEP_MARK.format(i)
            if i == 0:
                content = problem + " " + content
            msgs.append({"role": "user", "content": content})
            msgs.append({"role": "assistant", "content": _ANSWER_MARK.format(i)})
            marks += [_STEP_MARK.format(i), _ANSWER_MARK.format(i)]
    text = _apply_template(fmt, tokenizer, msgs)
    pieces = []
    for m in marks:
        if text.count(m) != 1:
            raise PrmkitError(
                f"chat template of this tokenizer does not keep message text verbatim ({fmt.name})"
            )
        before, text = text.split(m)
        pieces.append(before)
    pieces.append(text)
    return pieces


class _Mark:
    """A place in a solution's segment list (not text, not ids)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_STEP_START, _STEP_END, _SCORE_HERE = _Mark("step start"), _Mark("step end"), _Mark("score here")
#: A rendered solution before tokenization: text (tokenized on its own), token ids, or a mark.
Segment = str | list[int] | _Mark


def _fixed_ids(f: PRMFormat, tokenizer: Any) -> dict[str, Any]:
    """The format's token ids that do not depend on the solution (computed once per call)."""
    if f.tokenize == "steps":
        if f.layout != "plain":
            raise PrmkitError(f"format '{f.name}': tokenize='steps' needs the plain layout", field="tokenize")
        # as the references do: tokenizer.encode(step_tag, add_special_tokens=False)
        tag = encode_texts(tokenizer, [f.step_tag])[0]
        if not tag:
            raise PrmkitError(f"step tag {f.step_tag!r} tokenizes to nothing", field="step_tag")
        return {"bos": _wants_bos(f, tokenizer), "tag": tag}
    if f.layout in ("chat-prefixes", "chat-tools"):
        raise PrmkitError(f"format '{f.name}': layout '{f.layout}' needs tokenize='whole'", field="tokenize")
    if f.layout == "plain":
        return {"bos": _wants_bos(f, tokenizer), "tag": _tag_ids(tokenizer, f.step_tag) if f.step_tag else []}
    if f.chat_template is None and getattr(tokenizer, "chat_template", None) is None:
        raise PrmkitError(f"format '{f.name}' needs a tokenizer with a chat template", field="chat_template")
    if f.layout == "chat":
        return {"tag": _tag_ids(tokenizer, f.step_tag)}
    return {"good": _single_token_id(tokenizer, f.good_token, "good token")}


def _segments(
    f: PRMFormat, tokenizer: Any, problem: str, steps: Sequence[str], fixed: dict[str, Any]
) -> list[Segment]:
    """One solution as an ordered list of text pieces, token ids and marks (see :func:`render`)."""
    segs: list[Segment] = []
    if f.layout == "plain":
        if fixed["bos"]:
            segs.append([tokenizer.bos_token_id])
        # steps: the prompt is one text (problem and suffix tokenized together)
        segs += [problem + f.prompt_suffix] if f.tokenize == "steps" else [problem, f.prompt_suffix]
        for step in steps:
            segs += [_STEP_START, step, _STEP_END, fixed["tag"], _SCORE_HERE, f.step_suffix]
    elif f.layout == "chat":
        before, after = _chat_pieces(f, tokenizer, problem, len(steps))
        segs.append(before)
        for step in steps:
            segs += [_STEP_START, step, _STEP_END, fixed["tag"], _SCORE_HERE]
        segs.append(after)
    elif f.layout == "chat-turns":
        pieces = _chat_pieces(f, tokenizer, problem, len(steps))
        for i, step in enumerate(steps):
            # the score is read just before the assistant's answer token (its logits predict it)
            segs += [
                pieces[2 * i],
                _STEP_START,
                step,
                _STEP_END,
                pieces[2 * i + 1],
                _SCORE_HERE,
                [fixed["good"]],
            ]
        segs.append(pieces[-1])
    else:  # pragma: no cover - Layout is a closed set
        raise PrmkitError(f"unknown layout {f.layout!r}")
    return segs


def _assemble(segs: list[Segment], encoded: Any, max_length: int | None) -> Rendered:
    """Token ids, score positions and step spans from segments (``encoded`` yields the ids of
    each text segment in order)."""
    ids: list[int] = []
    positions: list[int | None] = []
    spans: list[tuple[int, int] | None] = []
    start = 0
    for seg in segs:
        if isinstance(seg, str):
            ids += next(encoded)
        elif isinstance(seg, list):
            ids += seg
        elif seg is _STEP_START:
            start = len(ids)
        elif seg is _STEP_END:
            spans.append((start, len(ids)))
        else:
            positions.append(len(ids) - 1)  # _SCORE_HERE
    return _truncate(ids, positions, spans, max_length)


def _truncate(
    ids: list[int],
    positions: list[int | None],
    spans: list[tuple[int, int] | None],
    max_length: int | None,
) -> Rendered:
    """Cut to ``max_length`` tokens; steps whose position falls outside become ``None``."""
    truncated = 0
    if max_length is not None and len(ids) > max_length:
        ids = ids[:max_length]
        for i, p in enumerate(positions):
            if p is not None and p >= max_length:
                positions[i] = None
                spans[i] = None
                truncated += 1
    return Rendered(input_ids=ids, step_positions=positions, step_spans=spans, truncated=truncated)


def _check_steps(i: int, steps: Sequence[str]) -> None:
    """Solution ``i``'s steps must be a list of strings (a string or a number would otherwise be
    read as pieces or token ids)."""
    if isinstance(steps, str):
        raise PrmkitError(
            f"solution {i}: steps must be a list of strings (a string, not a list)", field="steps"
        )
    for j, x in enumerate(steps):
        if not isinstance(x, str):
            raise PrmkitError(
                f"solution {i}: steps must be a list of strings (step {j} is {type(x).__name__})",
                field="steps",
            )


def _apply_template(
    f: PRMFormat, tokenizer: Any, msgs: list[dict[str, Any]], tools: list[Any] | None = None
) -> str:
    """The chat template (the format's, else the tokenizer's) rendered as text, no generation prompt.

    ``chat_template="tokenizer"`` names the tokenizer's own template, like ``None``."""
    tmpl = f.chat_template
    if tmpl == "tokenizer":
        tmpl = None
    if tmpl is not None and tmpl in CHAT_TEMPLATES:
        tmpl = CHAT_TEMPLATES.get(tmpl)
    if tmpl is None and getattr(tokenizer, "chat_template", None) is None:
        raise PrmkitError(
            f"format '{f.name}' needs a tokenizer with a chat template, or chat_template= one of "
            f"{', '.join(CHAT_TEMPLATES.names())} or a Jinja template",
            field="chat_template",
        )
    kw: dict[str, Any] = {"chat_template": tmpl} if tmpl is not None else {}
    if tools is not None:
        kw["tools"] = tools
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False, **kw)


_MARK = "\u2063PRMKIT_MARK\u2063"
#: one solution as a string: the text, each step's [start, end) characters, and for each step
#: the [start, end) characters of what its score is read from (the tag, or the answer token)
_Layout = tuple[str, list[tuple[int, int]], list[tuple[int, int]]]


def _whole_plain(f: PRMFormat, problem: str, steps: Sequence[str]) -> _Layout:
    if not f.step_tag:
        raise PrmkitError(
            f"format '{f.name}': a whole-string plain layout needs a step_tag", field="step_tag"
        )
    parts = [problem, f.prompt_suffix]
    n = len(problem) + len(f.prompt_suffix)
    spans, tags = [], []
    for i, st in enumerate(steps):
        if i:
            parts.append(f.step_join)
            n += len(f.step_join)
        parts += [st, f.step_tag]
        spans.append((n, n + len(st)))
        tags.append((n + len(st), n + len(st) + len(f.step_tag)))
        n += len(st) + len(f.step_tag)
    parts.append(f.step_suffix)
    return "".join(parts), spans, tags


def _system(f: PRMFormat) -> list[dict[str, str]]:
    return [] if f.system_prompt is None else [{"role": "system", "content": f.system_prompt}]


def _whole_chat(f: PRMFormat, tokenizer: Any, problem: str, steps: Sequence[str]) -> _Layout:
    msgs = [*_system(f), {"role": "user", "content": problem}]
    content = "".join(st + f.step_tag for st in steps)
    text = _apply_template(f, tokenizer, [*msgs, {"role": "assistant", "content": content}])
    marked = _apply_template(f, tokenizer, [*msgs, {"role": "assistant", "content": _MARK}])
    before, _, after = marked.partition(_MARK)
    if marked.count(_MARK) != 1 or text != before + content + after:
        raise PrmkitError(
            f"format '{f.name}': the chat template changes the assistant text (it must keep it verbatim)"
        )
    n = len(before)
    spans, tags = [], []
    for st in steps:
        spans.append((n, n + len(st)))
        tags.append((n + len(st), n + len(st) + len(f.step_tag)))
        n += len(st) + len(f.step_tag)
    return text, spans, tags


def _footer(f: PRMFormat, tokenizer: Any, msgs: list[dict[str, str]]) -> str:
    marked = _apply_template(f, tokenizer, msgs)
    if marked.count(_MARK) != 1:
        raise PrmkitError(f"format '{f.name}': the chat template does not keep message text")
    return marked.partition(_MARK)[2]


def _whole_turns(f: PRMFormat, tokenizer: Any, problem: str, steps: Sequence[str]) -> _Layout:
    """RLHFlow's conversation: user turns ``problem + " " + step1``, ``step2``, ... each answered
    ``good_token``; the score of a step is read just before its answer token. Every turn's
    prefix must render as a prefix of the whole conversation (one pass == turn by turn)."""
    sys_msgs = _system(f)
    if not steps:
        return _apply_template(f, tokenizer, [*sys_msgs, {"role": "user", "content": problem}]), [], []
    contents = [problem + " " + steps[0], *steps[1:]]
    msgs = list(sys_msgs)
    for c in contents:
        msgs += [{"role": "user", "content": c}, {"role": "assistant", "content": f.good_token}]
    text = _apply_template(f, tokenizer, msgs)
    user_footer = _footer(f, tokenizer, [*sys_msgs, {"role": "user", "content": _MARK}])
    answer_footer = _footer(
        f, tokenizer, [*sys_msgs, {"role": "user", "content": "x"}, {"role": "assistant", "content": _MARK}]
    )
    spans, answers = [], []
    for k, (c, st) in enumerate(zip(contents, steps, strict=True)):
        upto_user = _apply_template(f, tokenizer, msgs[: len(sys_msgs) + 2 * k + 1])
        upto_answer = _apply_template(f, tokenizer, msgs[: len(sys_msgs) + 2 * k + 2])
        if not (text.startswith(upto_user) and text.startswith(upto_answer)):
            raise PrmkitError(
                f"format '{f.name}': the chat template renders a turn differently in a longer chat"
            )
        body = upto_user[: len(upto_user) - len(user_footer)]
        if not upto_user.endswith(user_footer):
            raise PrmkitError(f"format '{f.name}': unexpected user turn ending in the chat template")
        if body.endswith(c):
            shown, lead = c, 0
        elif body.endswith(c.strip()):  # templates that trim message text (Llama 3)
            shown, lead = c.strip(), len(c) - len(c.lstrip())
        else:
            raise PrmkitError(f"format '{f.name}': the chat template changes the text of turn {k}")
        start = len(body) - len(shown)
        off = (len(problem) + 1 if k == 0 else 0) - lead
        a = start + min(len(shown), max(0, off))
        b = start + min(len(shown), max(0, off + len(st)))
        spans.append((a, max(a, b)))
        end = len(upto_answer) - len(answer_footer)
        ans = (end - len(f.good_token), end)
        if not upto_answer.endswith(answer_footer) or text[ans[0] : ans[1]] != f.good_token:
            raise PrmkitError(
                f"format '{f.name}': the assistant answer {f.good_token!r} of turn {k} not found"
            )
        answers.append(ans)
    return text, spans, answers


def _format_tools(f: PRMFormat) -> list[Any] | None:
    """The format's tool schemas (``tools``: a JSON array as text), or ``None``."""
    if f.tools is None:
        return None
    import json

    try:
        tools = json.loads(f.tools)
    except json.JSONDecodeError as e:
        raise PrmkitError(f"format '{f.name}': tools is not valid JSON: {e}", field="tools") from None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise PrmkitError(f"format '{f.name}': tools must be a JSON array of objects", field="tools")
    return tools


def _whole_tools(f: PRMFormat, tokenizer: Any, sol: int, problem: str, steps: Sequence[str]) -> _Layout:
    """``chat-tools``: the trajectory whose step texts are ``steps`` (:func:`prmkit.trajectory.turns_from_steps`)
    as a chat (:func:`prmkit.trajectory.chat_messages`: system =
    ``system_prompt`` if set, user = ``problem``, then per turn an assistant message (thought as
    content, the action as one tool call, or free text) and its result as a ``tool`` message (a
    ``user`` message after a free-text action); the last turn's result is in no step), rendered by
    the chat template with ``tools``. Steps that are not trajectory step texts (math steps) are
    one free-text assistant message each. Step ``k`` is read at the last ``step_tag`` of assistant
    message ``k`` (Qwen: its ``<|im_end|>``); its span is the assistant message (header included).
    Every prefix of the conversation must render as a prefix of the whole one.

    Example:
        >>> from prmkit.models.tiny import train_tokenizer
        >>> tok = train_tokenizer(["a b c"], vocab_size=280)
        >>> text, spans, reads = _whole_tools(get_format("chat-tools"), tok, 0, "Q", ["Action: look"])
        >>> text[reads[0][0]:reads[0][1]], text[spans[0][0]:spans[0][1]]
        ('<|im_end|>', '<|im_start|>assistant\\nlook')
    """
    if not f.step_tag:
        raise PrmkitError(f"format '{f.name}': the chat-tools layout needs a step_tag", field="step_tag")
    try:
        turns = turns_from_steps(list(steps)) if steps else []
    except PrmkitError:  # not trajectory step texts (e.g. math steps): one free-text message each
        turns = [Turn(action=st) for st in steps]
    tools = _format_tools(f)
    msgs = chat_messages(problem, turns, system=f.system_prompt)
    text = _apply_template(f, tokenizer, msgs, tools)
    spans: list[tuple[int, int]] = []
    reads: list[tuple[int, int]] = []
    at = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    for k, i in enumerate(at):
        before = _apply_template(f, tokenizer, msgs[:i], tools)
        upto = _apply_template(f, tokenizer, msgs[: i + 1], tools)
        if not (text.startswith(upto) and upto.startswith(before)):
            raise PrmkitError(
                f"format '{f.name}': the chat template renders turn {k} differently in a longer chat"
            )
        r = upto.rfind(f.step_tag)
        if r < len(before):
            raise PrmkitError(
                f"solution {sol}, step {k}: step tag {f.step_tag!r} not found in the rendered assistant message"
            )
        spans.append((len(before), r))
        reads.append((r, r + len(f.step_tag)))
    return text, spans, reads


def _whole_prefixes(
    f: PRMFormat, tokenizer: Any, problem: str, steps: Sequence[str]
) -> tuple[str, list[str]]:
    """EurusPRM / PRIME (``chat-prefixes``): the conversation (user = problem, assistant =
    ``step_join.join(steps)``) and, for ``k = 0 .. len(steps)``, the string whose token count
    places step ``k``: the conversation with the first ``k`` steps, ``.strip()``-ed, plus
    ``step_join`` unless ``k`` is 0 or the last (``step_last_tokens`` in the model card's code).

    Example:
        >>> from prmkit.models.tiny import train_tokenizer
        >>> tok = train_tokenizer(["a b c"], vocab_size=280)
        >>> text, pre = _whole_prefixes(get_format("eurus-prm"), tok, "Q", ["a", "b"])
        >>> one = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "a"}]
        >>> pre[1] == tok.apply_chat_template(one, tokenize=False).strip() + "\\n\\n"
        True
    """
    msgs = [*_system(f), {"role": "user", "content": problem}]

    def conv(k: int) -> str:
        return _apply_template(
            f, tokenizer, [*msgs, {"role": "assistant", "content": f.step_join.join(steps[:k])}]
        )

    n = len(steps)
    prefixes = []
    for k in range(n + 1):
        c = conv(k).strip()
        prefixes.append(c + f.step_join if 0 < k < n else c)
    return conv(n), prefixes


def _render_prefixes(
    f: PRMFormat,
    problems: Sequence[str],
    steps: Sequence[Sequence[str]],
    tokenizer: Any,
    max_length: int | None,
) -> list[Rendered]:
    """``chat-prefixes`` formats (EurusPRM): the whole conversation tokenized in one call, and the
    reference's positions from the token counts ``P_k`` of the prefix strings (one more call):
    step ``t`` is read at ``P_{t+1} - 1`` and the sum starts at ``P_0 - 2`` (the card's
    ``step_last_tokens`` index the shifted log-probs, so these are the token indices whose
    log-ratios its ``cumsum(...).gather(step_last_tokens[1:])`` adds up). Positions that do not
    strictly increase, start before the sum, or fall outside the sequence are an error naming
    the solution and step."""
    layouts = [_whole_prefixes(f, tokenizer, p, s) for p, s in zip(problems, steps, strict=True)]
    encoded = _encode_with_offsets(tokenizer, [t for t, _ in layouts], special=f.add_bos is None)
    counts = iter(len(x) for x in encode_texts(tokenizer, [c for _, pre in layouts for c in pre]))
    out = []
    for i, ((text, pre), (ids, _offs)) in enumerate(zip(layouts, encoded, strict=True)):
        if f.add_bos is True and getattr(tokenizer, "bos_token_id", None) is not None:
            ids = [tokenizer.bos_token_id, *ids]
        p = [next(counts) for _ in pre]
        start = p[0] - 2
        if start < 0:
            raise PrmkitError(f"solution {i}: the empty assistant turn has fewer than 2 tokens")
        positions: list[int | None] = []
        spans: list[tuple[int, int] | None] = []
        prev = start - 1
        for j in range(len(pre) - 1):
            pos = p[j + 1] - 1
            if pos <= prev or pos >= len(ids):
                raise PrmkitError(
                    f"solution {i}, step {j}: the reference's read position {pos} is "
                    + ("outside the sequence" if pos >= len(ids) else "not after the previous step's")
                    + f" ({len(ids)} tokens; the conversation cut after this step has {p[j + 1]})"
                )
            spans.append((prev + 1, pos))
            positions.append(pos)
            prev = pos
        r = _truncate(ids, positions, spans, max_length)
        r.text = text
        out.append(r)
    return out


def _encode_with_offsets(
    tokenizer: Any, texts: Sequence[str], special: bool
) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """Ids and character offsets of each text, in one tokenizer call (as ``tokenizer(texts)``)."""
    if not texts:
        return []
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is not None and backend.truncation is None and backend.padding is None:
        return [
            (list(e.ids), list(e.offsets))
            for e in backend.encode_batch(list(texts), add_special_tokens=special)
        ]
    try:
        enc = tokenizer(list(texts), add_special_tokens=special, return_offsets_mapping=True)
    except NotImplementedError:
        raise PrmkitError("whole-string formats need a fast tokenizer (offset mapping)") from None
    return [
        (list(i), [tuple(o) for o in off])
        for i, off in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
    ]


def _positions_from_offsets(
    f: PRMFormat,
    sol: int,
    ids: list[int],
    offsets: list[tuple[int, int]],
    spans: list[tuple[int, int]],
    reads: list[tuple[int, int]],
    good_id: int | None,
) -> tuple[list[int | None], list[tuple[int, int] | None]]:
    """Score position and token span of every step from the offset mapping (loud on a tag that
    merged into the following text, vanished, or shares a token with the previous one)."""
    from bisect import bisect_left, bisect_right

    real = [k for k, (a, b) in enumerate(offsets) if b > a]
    starts = [offsets[k][0] for k in real]
    ends = [offsets[k][1] for k in real]
    n = len(ids)
    positions: list[int | None] = []
    tok_spans: list[tuple[int, int] | None] = []
    prev = -1
    for j, ((a, b), (ra, rb)) in enumerate(zip(spans, reads, strict=True)):
        where = f"solution {sol}, step {j}"
        if good_id is not None:  # chat-turns: the answer token must stand alone; read just before it
            q = bisect_left(starts, ra)
            if q >= len(real) or starts[q] != ra or ends[q] != rb or ids[real[q]] != good_id:
                raise PrmkitError(f"{where}: the answer {f.good_token!r} is not one token id {good_id}")
            pos = real[q] - 1
        else:
            q = bisect_left(starts, rb) - 1  # the last token that starts inside/before the tag end
            if q < 0 or ends[q] <= ra or ends[q] < rb:
                raise PrmkitError(f"{where}: step tag {f.step_tag!r} vanished in tokenization")
            if ends[q] > rb:
                raise PrmkitError(
                    f"{where}: step tag {f.step_tag!r} merged into the following text "
                    f"(token {offsets[real[q]]} crosses the tag end {rb})"
                )
            pos = real[q]
        if pos <= prev:
            raise PrmkitError(f"{where}: step tag {f.step_tag!r} shares a token with the previous step's")
        s_i = bisect_right(ends, a)
        e_i = bisect_left(starts, b)
        s_tok = real[s_i] if s_i < len(real) else n
        e_tok = real[e_i] if e_i < len(real) else n
        positions.append(pos)
        tok_spans.append((min(s_tok, e_tok), e_tok))
        prev = pos
    return positions, tok_spans


def _render_whole(
    f: PRMFormat,
    problems: Sequence[str],
    steps: Sequence[Sequence[str]],
    tokenizer: Any,
    max_length: int | None,
) -> list[Rendered]:
    """``whole`` formats: each solution's reference string tokenized in one batched call."""
    if f.layout == "chat-prefixes":
        return _render_prefixes(f, problems, steps, tokenizer, max_length)
    if f.layout == "plain":
        layouts = [_whole_plain(f, p, s) for p, s in zip(problems, steps, strict=True)]
    elif f.layout == "chat":
        layouts = [_whole_chat(f, tokenizer, p, s) for p, s in zip(problems, steps, strict=True)]
    elif f.layout == "chat-tools":
        layouts = [
            _whole_tools(f, tokenizer, i, p, s) for i, (p, s) in enumerate(zip(problems, steps, strict=True))
        ]
    else:
        layouts = [_whole_turns(f, tokenizer, p, s) for p, s in zip(problems, steps, strict=True)]
    good = _single_token_id(tokenizer, f.good_token, "good token") if f.layout == "chat-turns" else None
    bos = f.add_bos is True and getattr(tokenizer, "bos_token_id", None) is not None
    encoded = _encode_with_offsets(tokenizer, [t for t, _, _ in layouts], special=f.add_bos is None)
    out = []
    for i, ((text, spans, reads), (ids, offs)) in enumerate(zip(layouts, encoded, strict=True)):
        if bos:
            ids, offs = [tokenizer.bos_token_id, *ids], [(0, 0), *offs]
        positions, tok_spans = _positions_from_offsets(f, i, ids, offs, spans, reads, good)
        r = _truncate(ids, positions, tok_spans, max_length)
        r.text = text
        out.append(r)
    return out


def render_many(
    problems: Sequence[str],
    steps: Sequence[Sequence[str]],
    fmt: str | PRMFormat,
    tokenizer: Any,
    max_length: int | None = None,
) -> list[Rendered]:
    """Render many solutions for a PRM: the batch form of :func:`render` (same result for each
    solution), with every text piece of every solution tokenized in one tokenizer call
    (:func:`encode_texts`), about 3x faster than one call per piece.

    Example:
        >>> from prmkit.models.tiny import train_tokenizer
        >>> tok = train_tokenizer(["a b c"], vocab_size=280)
        >>> many = render_many(["a", "b"], [["b", "c"], ["a"]], "token-classification", tok)
        >>> many == [render("a", ["b", "c"], "token-classification", tok), render("b", ["a"], "token-classification", tok)]
        True
    """
    if len(problems) != len(steps):
        raise PrmkitError(f"{len(problems)} problems but {len(steps)} step lists")
    for i, ss in enumerate(steps):
        _check_steps(i, ss)
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    if f.tokenize == "whole":
        return _render_whole(f, problems, steps, tokenizer, max_length)
    fixed = _fixed_ids(f, tokenizer)
    segs = [_segments(f, tokenizer, p, s, fixed) for p, s in zip(problems, steps, strict=True)]
    encoded = iter(encode_texts(tokenizer, [x for ss in segs for x in ss if isinstance(x, str)]))
    return [_assemble(ss, encoded, max_length) for ss in segs]


def render(
    problem: str,
    steps: Sequence[str],
    fmt: str | PRMFormat,
    tokenizer: Any,
    max_length: int | None = None,
) -> Rendered:
    """Render one solution for a PRM: token ids and one score position per step.

    Every step gets exactly one position (the last token of the step tag, or the token before
    the assistant's ``+`` in ``chat-turns``), whatever its text: empty, containing the tag
    string, trailing spaces, unicode. With ``max_length`` the sequence is cut to that many
    tokens and the steps whose positions fall outside are ``None`` (counted in ``truncated``).
    How the ids are made is the format's ``tokenize`` (module docstring): ``whole`` formats give
    their reference's ids exactly and raise :class:`PrmkitError` (naming solution and step) when a
    tag merged into the following text or vanished; ``pieces`` formats tokenize every piece alone
    and insert tags as ids. :func:`render_many` renders a batch the same way, faster.

    Example:
        >>> from prmkit.models.tiny import train_tokenizer
        >>> tok = train_tokenizer(["a b c"], vocab_size=280)
        >>> r = render("a", ["b", "c ки"], "lm-token-pair", tok)
        >>> len(r.step_positions), r.truncated
        (2, 0)
    """
    return render_many([problem], [steps], fmt, tokenizer, max_length)[0]


def pad_batch(
    rendered: Sequence[Rendered], pad_id: int, side: Literal["right", "left"] = "right"
) -> dict[str, Any]:
    """Pad rendered solutions into tensors: ``input_ids``, ``attention_mask`` and a
    ``positions`` list (per solution, per step: index into the padded row, or ``None``).

    Example:
        >>> b = pad_batch([Rendered([5, 6, 7], [2], [(0, 2)]), Rendered([5], [0], [(0, 1)])], pad_id=0)
        >>> b["input_ids"].tolist(), b["positions"]
        ([[5, 6, 7], [5, 0, 0]], [[2], [0]])
    """
    import torch

    width = max(len(r) for r in rendered)
    ids = torch.full((len(rendered), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rendered), width), dtype=torch.long)
    positions: list[list[int | None]] = []
    for i, r in enumerate(rendered):
        n = len(r)
        off = 0 if side == "right" else width - n
        ids[i, off : off + n] = torch.tensor(r.input_ids, dtype=torch.long)
        mask[i, off : off + n] = 1
        positions.append([None if p is None else p + off for p in r.step_positions])
    return {"input_ids": ids, "attention_mask": mask, "positions": positions}
