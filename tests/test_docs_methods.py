"""docs/methods.md stands on its own: every code and test it names exists, every link into it resolves."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ROOT / "docs" / "methods.md"
#: where references to the methods page live
SCANNED = ["src", "docs", "tests", "benchmarks", "examples", "README.md"]
#: the reference material outside the repository (spelled in pieces so this file does not match)
OUTSIDE = re.compile("/".join(["shared", "docs"]) + "|" + "/".join(["", "work", "shared"]))
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".j2", ".cfg"}


def github_slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens.

    Example: "B1. Step aggregation" -> "b1-step-aggregation".
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors() -> set[str]:
    text = METHODS.read_text(encoding="utf-8")
    return {github_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def scanned_files() -> list[Path]:
    out = []
    for name in SCANNED:
        p = ROOT / name
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        out += [f for f in files if f.suffix in TEXT_SUFFIXES and "egg-info" not in str(f)]
    return out


def test_slug_rule_by_hand() -> None:
    assert github_slug("B1. Step aggregation") == "b1-step-aggregation"
    assert github_slug("G3. ECE, Brier and reliability") == "g3-ece-brier-and-reliability"
    assert github_slug("D4. ER-PRM soft labels") == "d4-er-prm-soft-labels"


def test_every_link_into_methods_resolves() -> None:
    known = anchors()
    bad, old_style = [], []
    for f in scanned_files():
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"methods\.md(#[\w-]+)?", text):
            line = text.count("\n", 0, m.start()) + 1
            where = f"{f.relative_to(ROOT)}:{line}"
            if m.group(1) and m.group(1)[1:] not in known:
                bad.append(f"{where}: {m.group(0)}")
            rest = text[m.end() : m.end() + 4]
            if not m.group(1) and re.match(
                r" [A-G]\d", rest
            ):  # the old style: the page name, a space, a method code
                old_style.append(f"{where}: {m.group(0)}{rest}")
    assert not bad, "links to missing anchors of docs/methods.md:\n" + "\n".join(bad)
    assert not old_style, "references without an anchor:\n" + "\n".join(old_style)


def test_no_reference_outside_the_repository() -> None:
    hits = [
        str(f.relative_to(ROOT))
        for f in scanned_files()
        if OUTSIDE.search(f.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not hits, f"files pointing outside the repository: {hits}"


def _code_refs() -> list[tuple[str, str]]:
    """``(module, name)`` for every `prmkit.mod:name` and the `:name` shorthands that follow it."""
    refs, module = [], None
    for m in re.finditer(r"`(prmkit(?:\.\w+)+)?:(\w+)`", METHODS.read_text(encoding="utf-8")):
        module = m.group(1) or module
        assert module is not None, f"`:{m.group(2)}` before any module in docs/methods.md"
        refs.append((module, m.group(2)))
    return refs


def _test_refs() -> list[tuple[str, str]]:
    """``(file, test)`` for every `tests/f.py::test` and the `::test` shorthands that follow it."""
    refs, file = [], None
    for m in re.finditer(r"`(tests/\w+\.py)?::(\w+)`", METHODS.read_text(encoding="utf-8")):
        file = m.group(1) or file
        assert file is not None, f"`::{m.group(2)}` before any test file in docs/methods.md"
        refs.append((file, m.group(2)))
    return refs


def test_every_named_function_exists() -> None:
    refs = _code_refs()
    assert len(refs) > 60  # the page names the code of every method
    missing = []
    for module, name in refs:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            missing.append(f"{module}: {e}")
            continue
        if not hasattr(mod, name):
            missing.append(f"{module}:{name}")
    assert not missing, "docs/methods.md names code that does not exist:\n" + "\n".join(missing)


def test_every_named_test_exists() -> None:
    refs = _test_refs()
    assert len(refs) > 50
    defined: dict[str, set[str]] = {}
    missing = []
    for file, name in refs:
        path = ROOT / file
        if file not in defined:
            if not path.exists():
                missing.append(file)
                defined[file] = set()
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            defined[file] = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if name not in defined[file]:
            missing.append(f"{file}::{name}")
    assert not missing, "docs/methods.md names tests that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("section", ["A", "B", "C", "D", "E", "F", "G"])
def test_each_method_names_source_code_and_check(section: str) -> None:
    text = METHODS.read_text(encoding="utf-8")
    blocks = re.split(r"^### ", text, flags=re.M)[1:]
    mine = [b for b in blocks if b.startswith(section)]
    assert mine, f"no method in section {section}"
    for b in mine:
        title = b.splitlines()[0]
        for field in ("- Source:", "- Code:", "- Checked:"):
            assert field in b, f"{title}: no '{field}' line"


def test_relative_links_of_docs_and_benchmark_pages_resolve() -> None:
    pages = [
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "benchmarks").glob("*.md"),
        ROOT / "benchmarks/results/README.md",
    ]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # not code blocks
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = m.group(1).split("#", 1)[0]
            if not target or re.match(r"[a-z]+:", target):  # same-page anchor or a URL
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {m.group(1)}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)
