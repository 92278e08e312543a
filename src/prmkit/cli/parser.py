"""Flags from config dataclasses: :class:`ConfigParser`, an :class:`~transformers.HfArgumentParser`.

Every option of a command is declared once, as a field of its config dataclass: the type, the
default and ``metadata["help"]``. ``HfArgumentParser`` (the convention TRL users know) turns each
field into an argparse argument; this module adds prmkit's flag conventions on top of it:

* the flag is ``--field-name`` (dashes), or ``metadata["flag"]`` (``input`` -> ``--in``);
  ``metadata["aliases"]`` adds more spellings (HfArgumentParser's own key, e.g. ``["-o"]``);
* a ``bool`` field is a pair ``--x`` / ``--no-x`` (``metadata["negative"]`` renames the second);
* a ``list`` field is a repeatable flag that also takes comma-separated values;
* a ``dict`` field is a repeatable ``KEY=VALUE`` flag (values read as YAML scalars);
* ``metadata["positional"] = True`` makes a positional argument, ``metadata["cli"] = False`` keeps a
  field recipe-only, and a field named ``quiet`` follows the global ``prmkit --quiet``;
* ``--config recipe.yaml`` reads field values from a YAML recipe; flags given on the command line
  override it, which overrides the dataclass defaults (:func:`prmkit.config.build_config`);
  ``KEY=VALUE`` flags add keys to the recipe's mapping.

Values are validated once, by the dataclass's ``__post_init__`` raising :class:`PrmkitError` with
``field=``; a field error is re-raised as :class:`FlagError`, which names the flag (exit code 2).

Example:
    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Cfg:
    ...     input: str = field(default="", metadata={"help": "input file", "flag": "--in"})
    ...     n: int = field(default=4, metadata={"help": "samples"})
    ...     tags: list[str] = field(default_factory=list, metadata={"help": "tags"})
    ...     fast: bool = field(default=False, metadata={"help": "go fast"})
    >>> p = ConfigParser(Cfg, prog="demo")
    >>> cfg, given = p.parse_config(["--in", "a.jsonl", "--tags", "x,y", "--tags", "z", "--fast"])
    >>> cfg, sorted(given)
    (Cfg(input='a.jsonl', n=4, tags=['x', 'y', 'z'], fast=True), ['fast', 'input', 'tags'])
    >>> p.flag_of["input"]
    '--in'
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from collections.abc import Sequence
from typing import Any, get_type_hints

import yaml
from transformers import HfArgumentParser

from prmkit.config import build_config, load_yaml
from prmkit.errors import PrmkitError

#: metadata keys this module reads (never passed on to argparse)
_OWN_KEYS = ("flag", "negative", "positional", "cli", "aliases")


class _Unset:
    """Marks a field that was not given on the command line (so the recipe or default applies)."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


class FlagError(PrmkitError):
    """A bad option value, named by its command-line flag.

    Example:
        >>> str(FlagError("must be >= 1, got 0", flag="--n", field="n"))
        '--n: must be >= 1, got 0'
    """

    def __init__(self, message: str, *, flag: str, field: str | None = None, file: str | None = None) -> None:
        self.flag = flag
        super().__init__(message, field=field, file=file)

    def _format(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.flag}: {self.message}"


def parse_key_values(items: Sequence[str], flag: str) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict, values read as YAML scalars (``0.2`` -> float, ``true`` -> bool).

    Example:
        >>> parse_key_values(["error_rate=0.2", "name=x", "early_stop=true", "e="], "--policy-opt")
        {'error_rate': 0.2, 'name': 'x', 'early_stop': True, 'e': ''}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise PrmkitError(f"expected KEY=VALUE, got {item!r}", field=flag)
        try:
            out[key.strip()] = yaml.safe_load(val) if val.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = val
    return out


class _ListAction(argparse.Action):
    """A repeatable flag whose values may also be comma-separated: ``--n 1,2 --n 4`` -> ``[1, 2, 4]``."""

    def __init__(self, *args: Any, item_type: Any = str, split: bool = True, **kwargs: Any) -> None:
        self.item_type = item_type
        self.split = split
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest, None)
        items = [] if current is UNSET or current is None else list(current)
        for raw in values if isinstance(values, list) else [values]:
            for part in str(raw).split(",") if self.split else [str(raw)]:
                part = part.strip()
                if not part:
                    continue
                try:
                    items.append(self.item_type(part))
                except ValueError:
                    name = getattr(self.item_type, "__name__", str(self.item_type))
                    raise argparse.ArgumentError(self, f"invalid {name} value: {part!r}") from None
        setattr(namespace, self.dest, items)


class _KeyValueAction(argparse.Action):
    """A repeatable ``KEY=VALUE`` flag filling a dict field."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest, None)
        merged = {} if current is UNSET or current is None else dict(current)
        try:
            merged.update(parse_key_values([values], option_string or self.dest))
        except PrmkitError as e:
            raise argparse.ArgumentError(self, e.message) from None
        setattr(namespace, self.dest, merged)


class _Recorder:
    """Stands in for a parser while HfArgumentParser maps one field, recording its arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def add_argument(self, *args: str, **kwargs: Any) -> None:
        self.calls.append((args, kwargs))


class ConfigParser(HfArgumentParser):
    """The parser of one command: the fields of ``config_cls`` as flags, plus ``--config``.

    ``overrides`` adds metadata to fields of a dataclass declared where the CLI cannot annotate
    it (``{"tiny": {"negative": "--full"}}``); prefer field metadata.
    """

    def __init__(
        self,
        config_cls: type,
        *,
        overrides: dict[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.config_cls = config_cls
        self.overrides = overrides or {}
        #: field name -> the flag that sets it (the first spelling)
        self.flag_of: dict[str, str] = {}
        self.field_names = {f.name for f in dataclasses.fields(config_cls)}
        #: what the last :meth:`parse_config` saw: fields given as flags, the recipe path
        self.given: frozenset[str] = frozenset()
        #: ``KEY=VALUE`` fields: flags add keys to the recipe's mapping instead of replacing it
        self.dict_fields: set[str] = set()
        self.recipe: str | None = None
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(config_cls, **kwargs)
        self.add_argument(
            "--config",
            dest="_config",
            metavar="RECIPE.yaml",
            default=None,
            help="YAML recipe of these options (keys = field names); flags override it",
        )

    # ------------------------------------------------------------ building

    def _add_dataclass_arguments(self, dtype: type) -> None:
        hints = get_type_hints(dtype)
        for f in dataclasses.fields(dtype):
            if not f.init:
                continue
            f = copy.copy(f)  # HfArgumentParser rewrites .type; keep the class's fields untouched
            f.type = hints[f.name]
            extra = self.overrides.get(f.name)
            if extra:
                f.metadata = {**f.metadata, **extra}  # type: ignore[misc]
            if f.name == "quiet" or f.metadata.get("cli", True) is False:
                continue
            self._add_field(f)

    def _add_field(self, f: dataclasses.Field) -> None:
        meta = dict(f.metadata)
        rec = _Recorder()
        # HfArgumentParser maps the type (Optional unwrapped, Literal/Enum choices, lists, bools)
        HfArgumentParser._parse_dataclass_field(rec, f)  # type: ignore[arg-type]
        _, kw = rec.calls[0]
        kw = {k: v for k, v in kw.items() if k not in _OWN_KEYS}
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        aliases = meta.get("aliases", [])
        names = [flag, *([aliases] if isinstance(aliases, str) else aliases)]
        self.flag_of[f.name] = flag
        help_text = str(kw.get("help", "")).replace("%", "%%")
        base = {"dest": f.name, "help": help_text, "default": kw.get("default")}
        origin = getattr(f.type, "__origin__", None)
        args = [a for a in getattr(f.type, "__args__", ()) if a is not type(None)]
        if f.type is bool or args == [bool]:
            negative = meta.get("negative", "--no-" + flag.lstrip("-"))
            self.add_argument(*names, action="store_const", const=True, **base)
            self.add_argument(
                negative, action="store_const", const=False, dest=f.name, help=f"sets {flag} off"
            )
            return
        if kw.get("nargs") == "+":  # list[X]
            item = kw.get("type") or str
            if meta.get("positional"):
                self.add_argument(f.name, nargs="+", action=_ListAction, item_type=item, split=False,
                                  metavar=f.name.upper(), help=base["help"])  # fmt: skip
                self.flag_of[f.name] = f.name.upper()
                return
            metavar = f"{_metavar(flag)}[,...]"
            self.add_argument(*names, action=_ListAction, item_type=item, metavar=metavar, **base)
            return
        if origin is dict or f.type is dict or kw.get("type") is dict:
            self.dict_fields.add(f.name)
            self.add_argument(*names, action=_KeyValueAction, metavar="KEY=VALUE", **base)
            return
        if meta.get("positional"):
            self.add_argument(f.name, type=kw.get("type"), metavar=f.name.upper(), help=base["help"])
            self.flag_of[f.name] = f.name.upper()
            return
        extra = {k: kw[k] for k in ("type", "choices") if k in kw}
        self.add_argument(*names, metavar=_metavar(flag), **extra, **base)

    # ------------------------------------------------------------ parsing

    def parse_flags(self, argv: Sequence[str]) -> tuple[dict[str, Any], str | None]:
        """The fields set on the command line (``{field: value}``) and the ``--config`` path.

        Bad values and unknown flags end the process with exit code 2 (argparse's ``error``).
        """
        ns = argparse.Namespace(**{a.dest: UNSET for a in self._actions if a.dest != "help"})
        ns = self.parse_args(list(argv), namespace=ns)
        values = {k: v for k, v in vars(ns).items() if v is not UNSET}
        config = values.pop("_config", None)
        return values, config

    def parse_config(self, argv: Sequence[str], **fixed: Any) -> tuple[Any, frozenset[str]]:
        """Defaults < ``--config`` recipe < flags < ``fixed`` -> (validated config, fields given as flags).

        A :class:`PrmkitError` about a field is re-raised naming its flag (:meth:`flag_error`).
        """
        flags, recipe = self.parse_flags(argv)
        self.given, self.recipe = frozenset(flags), recipe
        try:
            if recipe is not None and self.dict_fields & flags.keys():
                data = {str(k).replace("-", "_"): v for k, v in load_yaml(recipe).items()}
                for name in self.dict_fields & flags.keys():
                    if isinstance(data.get(name), dict):
                        flags[name] = {**data[name], **flags[name]}
            return build_config(self.config_cls, recipe, {**flags, **fixed}), self.given
        except PrmkitError as e:
            raise self.flag_error(e) from None

    def flag_error(self, e: PrmkitError) -> PrmkitError:
        """``e`` naming the flag of its field, or the recipe when the value came from there."""
        if (
            isinstance(e, FlagError)
            or e.field not in self.flag_of
            or e.file is not None
            or e.line is not None
        ):
            return e
        if self.recipe is not None and e.field not in self.given:
            return PrmkitError(e.message, file=str(self.recipe), field=e.field)
        return FlagError(e.message, flag=self.flag_of[e.field], field=e.field)


def _metavar(flag: str) -> str:
    """``--time-budget`` -> ``TIME_BUDGET`` (the placeholder shown in usage and help)."""
    return flag.lstrip("-").replace("-", "_").upper()


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help with each field's default; no "(default: None)" noise for unset optional values."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=110)

    def _get_help_string(self, action: argparse.Action) -> str:
        h = action.help or ""
        d = action.default
        if d is None or d is False or d is UNSET or d is argparse.SUPPRESS or "%(default)" in h:
            return h
        if isinstance(d, (str, list, dict)) and not d:
            return h
        return h + " (default: %(default)r)"
