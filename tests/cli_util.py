"""Run the real ``prmkit`` entry point in-process (shared by the CLI tests)."""

from __future__ import annotations

import sys


def run_cli(args: list[str], monkeypatch, capsys, **env: str) -> tuple[int, str, str]:
    """Run ``prmkit ARGS`` through :func:`prmkit.cli.main`; returns (exit code, stdout, stderr).

    ``env`` sets environment variables for the call (``monkeypatch`` undoes them).
    """
    from prmkit.cli import main

    monkeypatch.setattr(sys, "argv", ["prmkit", *args])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
