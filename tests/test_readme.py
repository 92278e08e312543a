"""The README's demo table stays in step with what ``make demo`` produced: every row names a key of
the demo's ``summary.json`` and shows the value recorded in benchmarks/results/demo_prm.json."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from demo_prm import README_ROWS, fmt, lookup  # noqa: E402


def readme_rows() -> list[tuple[str, str, str]]:
    """(measure, key path, value) of each row of the README's demo table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## What `make demo` shows", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1).strip(), m.group(2), m.group(3).strip())
            for m in re.finditer(r"^\| ([^|]+) \| `([^`]+)` \| ([^|]+) \|", section, re.M)]  # fmt: skip


def test_readme_table_has_every_row_with_the_recorded_value():
    rows = readme_rows()
    assert [r[1] for r in rows] == [r[1] for r in README_ROWS]
    summary = json.loads((ROOT / "benchmarks" / "results" / "demo_prm.json").read_text())["summary"]
    kinds = {path: kind for _, path, kind, _ in README_ROWS}
    for name, path, value in rows:
        assert value == fmt(lookup(summary, path), kinds[path]), (name, path)


def test_readme_commands_use_existing_flags():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text.split("\n## ", 1)[0] and "make test" in text.split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in text
