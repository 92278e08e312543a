"""CLI commands for this stage (thin wrappers over the library)."""

from __future__ import annotations

from prmkit.cli.app import app  # noqa: F401
