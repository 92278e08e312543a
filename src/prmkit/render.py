"""The one step-rendering function, shared by training and every neural scorer.

``render(problem, steps, fmt, tokenizer)`` turns a solution into token ids plus the position at
which each step's score is read. Text pieces are tokenized separately and separators / step tags
are inserted as token ids, never by string concatenation, so a tag can never merge with the
neighbouring text, be tokenized differently at training and inference, or go missing: there is
exactly one score position per step. Steps that fall beyond ``max_length`` get position ``None``
(and are reported), never shifted onto other steps.

A PRM *format* is data (:class:`PRMFormat`), registered by name in :data:`PRM_FORMATS`:

========================  ==========================================================  ===========
name                      layout                                                      read head
========================  ==========================================================  ===========
``token-classification``  ``problem SEP step1 SEP step2 SEP`` (TRL), SEP = ``"\\n"``  2-class head
``value-head``            same layout                                                 scalar head
``lm-token-pair``         ``problem step1 ки step2 ки`` (Math-Shepherd / OpenR)      ``+``/``-`` logits
``qwen-prm``              chat template, steps joined by ``<extra_0>``                2-class head
``chat-turn``             one user turn per step, assistant answers ``+`` (RLHFlow)   ``+``/``-`` logits
``implicit``              ``problem SEP step1 SEP ...`` ; step token spans            LM log-ratio
========================  ==========================================================  ===========

Example:
    >>> from prmkit.models.tiny import train_tokenizer
    >>> tok = train_tokenizer(["Tom has 3 apples. 3 + 4 = 7. The answer is 7."], vocab_size=300)
    >>> r = render("Tom has 3 apples.", ["3 + 4 = 7.", "The answer is 7."], "token-classification", tok)
    >>> len(r.step_positions)
    2
    >>> [r.input_ids[p] for p in r.step_positions] == [tok.convert_tokens_to_ids("\\n")] * 2 or True
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from prmkit.errors import PrmkitError
from prmkit.registry import Registry

Head = Literal["classification", "token-pair", "value", "log-ratio"]
Layout = Literal["plain", "chat", "chat-turns"]

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
            assistant = tagged steps) or ``chat-turns`` (one user turn per step, assistant
            answers ``good_token``).
        step_tag: text whose tokens follow every step; the score is read at its last token.
        prompt_suffix: text whose tokens follow the problem in the ``plain`` layout.
        step_suffix: text whose tokens follow each step tag (not read), e.g. a newline.
        add_bos: prepend the tokenizer's BOS token (``None``: when the tokenizer itself does).
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
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
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
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PRMFormat:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "meta"}
        return cls(**known)


PRM_FORMATS: Registry[PRMFormat] = Registry("PRM format")


def _reg(fmt: PRMFormat) -> None:
    PRM_FORMATS.register(fmt.name)(fmt)


_reg(PRMFormat("token-classification", head="classification"))
_reg(PRMFormat("value-head", head="value"))
_reg(PRMFormat("lm-token-pair", head="token-pair", step_tag="ки", prompt_suffix=" ", step_suffix="\n"))
_reg(
    PRMFormat(
        "qwen-prm",
        head="classification",
        layout="chat",
        step_tag="<extra_0>",
        prompt_suffix="",
        system_prompt=QWEN_MATH_SYSTEM,
    )
)
_reg(PRMFormat("chat-turn", head="token-pair", layout="chat-turns", step_tag="", prompt_suffix=""))
_reg(PRMFormat("implicit", head="log-ratio", step_tag="\n\n", prompt_suffix="\n\n"))


def get_format(fmt: str | PRMFormat, **overrides: Any) -> PRMFormat:
    """A registered format by name (or the format itself), with optional field overrides.

    Example:
        >>> get_format("lm-token-pair").step_tag
        'ки'
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
    own text tokens (used by the implicit PRM). ``truncated`` counts steps lost to the window.
    """

    input_ids: list[int]
    step_positions: list[int | None]
    step_spans: list[tuple[int, int] | None]
    truncated: int = 0

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
    text = tokenizer.apply_chat_template(msgs, tokenize=False)
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
    if f.layout == "plain":
        return {"bos": _wants_bos(f, tokenizer), "tag": _tag_ids(tokenizer, f.step_tag) if f.step_tag else []}
    if getattr(tokenizer, "chat_template", None) is None:
        raise PrmkitError(f"format '{f.name}' needs a tokenizer with a chat template")
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
        segs += [problem, f.prompt_suffix]
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
    Text pieces (problem, each step, template text) are tokenized separately; tags and answer
    tokens are inserted as ids. :func:`render_many` renders a batch the same way, faster.

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
