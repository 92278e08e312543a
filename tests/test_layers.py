"""The import layers of prmkit (docs/architecture.md, "Layers"), checked on the source with ``ast``.

Rules, for every module under ``src/prmkit``:

1. **Dependencies point down.** Every import of a prmkit module (at module top, inside a
   function, or ``importlib.import_module("prmkit...")``) goes to a lower layer of :data:`LAYERS`,
   or stays inside its own package (the core layer and the apps layer count as one package each). Package ``__init__``
   files count as their package. Every module belongs to a declared layer.
2. **No import cycles, and none dodged.** Module-top imports (with the package ``__init__`` files
   they run) form no cycle. **No import inside a function only dodges a cycle.** A function-local import of a prmkit
   module is allowed (it may keep start-up light), but moving it to the module top must not close
   an import cycle: the imported module, through its own top-level imports (and the package
   ``__init__`` files they run), must not import the importing module.
3. **Torch is not hidden.** ``torch``/``transformers``/``tokenizers``/``safetensors`` are required
   dependencies: outside the core layer they are imported at module top. Inside a function, a
   third-party import must be a genuinely optional heavy dependency (:data:`OPTIONAL`), a
   required dependency that the core layer imports lazily to stay torch-free and light
   (:data:`CORE_LAZY`), or a light required one kept off the CLI's start-up path (:data:`LIGHT`).
4. **The core layer is torch-free**: importing it loads neither torch nor transformers.

:data:`PENDING` lists the violations that remain in modules under rework by other issues; each is
named exactly, and the test fails when a listed one is gone, so the list can only shrink.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "prmkit"

#: bottom to top; a module may import modules of lower layers and of its own package
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "prmkit",
            "prmkit.errors",
            "prmkit.executors",
            "prmkit.registry",
            "prmkit.trajectory",
            "prmkit.records",
            "prmkit.config",
            "prmkit.progress",
            "prmkit.runs",
            "prmkit.locks",
            "prmkit.steps",
            "prmkit.grading",
            "prmkit.aggregate",
            "prmkit.formats",
            "prmkit.render",
        ),
    ),
    ("models", ("prmkit.models",)),
    ("clients", ("prmkit.clients",)),
    ("interfaces", ("prmkit.policies.base", "prmkit.scorers.base")),
    ("envs", ("prmkit.envs",)),
    ("worlds", ("prmkit.worlds",)),
    ("backends", ("prmkit.policies", "prmkit.scorers")),
    ("label", ("prmkit.label",)),
    ("evaluate", ("prmkit.evaluate",)),
    ("search", ("prmkit.search",)),
    ("agents", ("prmkit.agents",)),
    ("train", ("prmkit.train",)),
    ("serve", ("prmkit.serve",)),
    ("rl", ("prmkit.rl",)),
    ("apps", ("prmkit.quickstart", "prmkit.cli", "prmkit.__main__")),
]

#: optional extras: imported where used, so the core installs and runs without them
OPTIONAL = {
    "vllm", "ray", "peft", "matplotlib", "fastapi", "uvicorn", "starlette", "pydantic", "httpx",
    "openai", "llama_cpp", "datasets", "trl", "gguf", "accelerate", "deepspeed", "openrlhf",
    "verl", "uvloop", "jinja2", "huggingface_hub", "textworld",
}  # fmt: skip
#: required, imported lazily by the core layer only (to stay torch-free and fast to import)
CORE_LAZY = {"torch", "transformers", "tokenizers", "safetensors", "numpy", "pyarrow", "math_verify"}
#: light required dependencies that may stay off the CLI's start-up path anywhere
LIGHT = {"yaml", "rich", "numpy", "pyarrow", "typer"}
TORCH = {"torch", "transformers", "tokenizers", "safetensors"}

#: violations still tolerated, each named exactly (the list may only shrink): none are left, so a
#: new violation is fixed rather than listed here
PENDING: set[tuple[str, str, str]] = set()


# ---------------------------------------------------------------- the import graph


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The prmkit module an import names (``prmkit.search.base``), or its package."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


class _Imports(ast.NodeVisitor):
    """``(target, lineno, local)`` for every import in a module (``local``: inside a function)."""

    def __init__(self, module: str, is_pkg: bool) -> None:
        self.module, self.is_pkg = module, is_pkg
        self.depth = 0
        self.found: list[tuple[str, int, bool]] = []

    def _func(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _func

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.found.append((a.name, node.lineno, self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.module.split(".")
            base = base if self.is_pkg else base[:-1]
            base = base[: len(base) - node.level + 1] if node.level > 1 else base
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        if mod == "__future__":
            return
        for a in node.names:  # ``from pkg import submodule`` imports the submodule
            sub = f"{mod}.{a.name}"
            self.found.append((sub if sub in modules() else mod, node.lineno, self.depth > 0))

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if (
            isinstance(f, ast.Attribute)
            and f.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            self.found.append((node.args[0].value, node.lineno, self.depth > 0))
        self.generic_visit(node)


@cache
def imports_of(module: str) -> tuple[tuple[str, int, bool], ...]:
    path = modules()[module]
    v = _Imports(module, path.name == "__init__.py")
    v.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return tuple(v.found)


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def top_edges(module: str) -> frozenset[str]:
    """Modules that importing ``module`` runs first: its top-level prmkit imports and the package
    ``__init__`` files above them (its own ancestors are already being imported)."""
    own = set(_ancestors(module))
    out: set[str] = set()
    for target, _, local in imports_of(module):
        mod = _resolve(target) if target.startswith("prmkit") else None
        if local or mod is None or mod == module:
            continue
        out.update(a for a in [*_ancestors(mod), mod] if a not in own and a != module)
    return frozenset(out)


def reaches(start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m == goal:
            return True
        if m in seen:
            continue
        seen.add(m)
        todo.extend(top_edges(m))
    return False


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, unit): the unit is the package; the core and the apps layers are one unit each."""
    best: tuple[int, int, str] | None = None
    for i, (name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            inside = module == p or (p != "prmkit" and module.startswith(p + "."))
            if inside and (best is None or len(p) > best[1]):
                best = (i, len(p), name if name in ("core", "apps") else p)
    if best is None:
        raise AssertionError(f"{module} belongs to no layer: declare it in LAYERS (tests/test_layers.py)")
    return best[0], best[2]


# ---------------------------------------------------------------- the rules


def violations() -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for module in modules():
        lm, um = layer_of(module)
        for target, _line, local in imports_of(module):
            top = target.split(".")[0]
            if top == "prmkit":
                mod = _resolve(target)
                if mod is None:
                    continue
                lt, ut = layer_of(mod)
                if lt > lm or (lt == lm and ut != um):
                    out.add(("upward", module, mod))
                if local and reaches(mod, module):
                    out.add(("cycle-dodge", module, mod))
            elif local:
                if lm == 0 and top in CORE_LAZY:
                    continue
                if top in OPTIONAL or top in LIGHT or top in sys.stdlib_module_names:
                    continue
                out.add(("torch-local" if top in TORCH or top in CORE_LAZY else "local-import", module, top))
    return out


def test_every_module_has_a_layer():
    for module in modules():
        layer_of(module)


def test_layer_rules_hold():
    found = violations()
    new = sorted(found - PENDING)
    lines = [f"  {rule}: {mod} imports {target}" for rule, mod, target in new]
    assert not new, "import layer violations (see tests/test_layers.py docstring):\n" + "\n".join(lines)


def top_level_cycles() -> set[tuple[str, str]]:
    """``(module, imported)`` pairs whose top-level imports lead back to the module."""
    return {(m, e) for m in modules() for e in top_edges(m) if reaches(e, m)}


def test_no_top_level_import_cycles():
    cycles = sorted(top_level_cycles())
    assert not cycles, f"import cycles through module-top imports: {cycles}"


def test_pending_list_is_exact():
    gone = sorted(PENDING - violations())
    assert not gone, f"fixed, remove from PENDING: {gone}"


def test_core_layer_is_torch_free():
    core = [m for m in modules() if layer_of(m)[0] == 0 and m != "prmkit.__main__"]
    code = "import sys\n" + "".join(f"import {m}\n" for m in core)
    code += "bad = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\nprint(','.join(bad))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert r.stdout.strip() == "", f"importing the core layer loads {r.stdout.strip()}"


# ---------------------------------------------------------------- the checker itself


def test_checker_flags_an_upward_import_and_a_dodged_cycle(tmp_path, monkeypatch):
    """On a two-module package: core importing search upward, and a lazy import closing a cycle."""
    pkg = tmp_path / "prmkit"
    (pkg / "search").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "records.py").write_text("def f():\n    from prmkit.search import driver\n")
    (pkg / "search" / "__init__.py").write_text("")
    (pkg / "search" / "driver.py").write_text(
        "import prmkit.records\nimport torch\n\ndef g():\n    import torch\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    for fn in (modules, imports_of, top_edges):
        fn.cache_clear()
    try:
        assert violations() == {
            ("upward", "prmkit.records", "prmkit.search.driver"),
            ("cycle-dodge", "prmkit.records", "prmkit.search.driver"),
            ("torch-local", "prmkit.search.driver", "torch"),
        }
        (pkg / "records.py").write_text("from prmkit.search import driver\n")  # now a top-level cycle
        for fn in (modules, imports_of, top_edges):
            fn.cache_clear()
        assert top_level_cycles() == {
            ("prmkit.records", "prmkit.search.driver"),
            ("prmkit.search.driver", "prmkit.records"),
        }
    finally:
        for fn in (modules, imports_of, top_edges):
            fn.cache_clear()


@pytest.mark.parametrize(
    "module,target,expected",
    [("prmkit.search.run", "prmkit.evaluate.report", True), ("prmkit.scorers.judge", "prmkit.search", False)],
)
def test_layer_order_examples(module, target, expected):
    lm, um = layer_of(module)
    lt, ut = layer_of(target)
    assert (lt < lm or (lt == lm and ut == um)) is expected
