"""``prmkit.cli.parser.ConfigParser`` on a toy dataclass: the flag conventions of every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from transformers import HfArgumentParser

from prmkit.cli.parser import ConfigParser, FlagError
from prmkit.config import check_min
from prmkit.errors import PrmkitError


@dataclass
class Toy:
    input: str = field(default="", metadata={"help": "input file", "flag": "--in"})
    n: int = field(default=4, metadata={"help": "samples (100% of them)"})
    rate: float | None = field(default=None, metadata={"help": "a rate"})
    tags: list[str] = field(default_factory=lambda: ["a"], metadata={"help": "tags"})
    ns: list[int] | None = field(default=None, metadata={"help": "N values", "flag": "--k"})
    opts: dict[str, Any] = field(default_factory=dict, metadata={"help": "options", "aliases": ["-o"]})
    keep: bool = field(default=False, metadata={"help": "keep", "negative": "--drop"})
    fast: bool | None = field(default=None, metadata={"help": "go fast"})
    secret: str = field(default="s", metadata={"help": "recipe only", "cli": False})
    quiet: bool | None = None

    def __post_init__(self) -> None:
        check_min(self, 1, "n")


def parse(*argv: str) -> tuple[Toy, frozenset[str]]:
    return ConfigParser(Toy, prog="toy").parse_config(list(argv))


def test_is_an_hf_argument_parser_and_defaults_come_from_the_dataclass():
    p = ConfigParser(Toy, prog="toy")
    assert isinstance(p, HfArgumentParser)
    cfg, given = parse()
    assert cfg == Toy() and given == frozenset()


def test_flag_spellings_lists_dicts_and_booleans():
    cfg, given = parse(
        "--in", "x.jsonl", "--n", "7", "--rate", "0.5", "--tags", "b,c", "--tags", "d", "--k", "1,2", "--k", "8",
        "--opts", "a=1", "-o", "b=true", "-o", "c=x", "--keep", "--fast",
    )  # fmt: skip
    assert (cfg.input, cfg.n, cfg.rate, cfg.tags, cfg.ns) == ("x.jsonl", 7, 0.5, ["b", "c", "d"], [1, 2, 8])
    assert cfg.opts == {"a": 1, "b": True, "c": "x"}
    assert cfg.keep is True and cfg.fast is True
    assert given == {"input", "n", "rate", "tags", "ns", "opts", "keep", "fast"}
    cfg, _ = parse("--keep", "--drop", "--no-fast")
    assert cfg.keep is False and cfg.fast is False


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--input", "x"], "unrecognized arguments: --input"),  # the field name is not a second spelling
        (["--secret", "x"], "unrecognized arguments: --secret"),  # recipe-only field
        (["--quiet"], "unrecognized arguments: --quiet"),  # follows the global --quiet
        (["--ta", "x"], "unrecognized arguments: --ta"),  # no prefix abbreviations
        (["--n", "x"], "argument --n: invalid int value: 'x'"),
        (["--k", "1,two"], "argument --k: invalid int value: 'two'"),
        (["--opts", "novalue"], "argument --opts/-o: expected KEY=VALUE, got 'novalue'"),
    ],
)
def test_argparse_errors_exit_2_naming_the_flag(argv, needle, capsys):
    with pytest.raises(SystemExit) as e:
        parse(*argv)
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


def test_field_errors_name_the_flag_or_the_recipe(tmp_path):
    with pytest.raises(FlagError) as e:
        parse("--n", "0")
    assert str(e.value) == "--n: must be >= 1, got 0" and e.value.field == "n"
    recipe = tmp_path / "r.yaml"
    recipe.write_text("n: -2\nopts: {a: 1, b: 2}\nsecret: t\n")
    with pytest.raises(PrmkitError) as e:
        parse("--config", str(recipe))
    assert str(e.value) == f"{recipe}: field 'n': must be >= 1, got -2"
    cfg, given = parse("--config", str(recipe), "--n", "3", "-o", "b=5")
    assert (cfg.n, cfg.secret, cfg.opts) == (3, "t", {"a": 1, "b": 5})
    assert given == {"n", "opts"}


def test_help_shows_each_field_help_and_default(capsys):
    with pytest.raises(SystemExit) as e:
        parse("--help")
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--in IN input file" in out
    assert "--n N samples (100% of them) (default: 4)" in out
    assert "--tags TAGS[,...] tags (default: ['a'])" in out
    assert "--drop sets --keep off" in out
    assert "--config RECIPE.yaml" in out
    assert "--secret" not in out and "--quiet" not in out


def test_positional_fields():
    @dataclass
    class Pos:
        src: str = field(default="", metadata={"help": "source", "positional": True})
        rest: list[str] = field(default_factory=list, metadata={"help": "more", "positional": True})

    cfg, _ = ConfigParser(Pos, prog="pos").parse_config(["a.json", "b=c,d.jsonl", "e"])
    assert cfg.src == "a.json" and cfg.rest == ["b=c,d.jsonl", "e"]  # positional lists do not split on commas
