"""Helpers for the reward-server tests: a tiny PRM checkpoint and a real server process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TEXTS = [
    "Tom has 3 apples and buys 4 more. 3 + 4 = 7. The answer is 7.",
    "Ann reads 12 pages a day for 5 days. 12 x 5 = 60 pages. The answer is 60.",
]


def make_tiny_prm(out: Path, seed: int = 0) -> Path:
    """Save a random tiny token-classification PRM with a prmkit.json beside it."""
    from prmkit.models.tiny import build_tiny_model, train_tokenizer

    tok = train_tokenizer(TEXTS * 4, vocab_size=300)
    model = build_tiny_model(
        "token-classification", tok, hidden_size=32, num_layers=1, num_heads=2, seed=seed
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "prmkit.json").write_text(json.dumps({"format": "token-classification"}))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """Start ``argv`` (a server on 127.0.0.1:port), wait for /health, stop it on exit."""

    def __init__(self, argv: list[str], port: int, timeout: float = 90.0) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PRMKIT_QUIET="1", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.proc.stdout.read()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not become healthy in time")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stdout.read() if self.proc.stdout else ""

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def prmkit_serve_argv(prm: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "prmkit", "serve", "--prm", str(prm), "--port", str(port), *extra]


def slow_server_argv(prm: Path, port: int, delay: float, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).with_name("serve_slow.py")),
        str(prm),
        str(port),
        str(delay),
        *extra,
    ]
