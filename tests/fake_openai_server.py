"""A tiny scripted OpenAI-compatible server (http.server in a thread) for unit tests.

``FakeServer(handler)`` calls ``handler(path, body) -> Reply`` for every request and records the
requests; a reply can carry a status, headers and a delay (to trigger client timeouts).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeServer:
    """Serve ``handler`` on 127.0.0.1:<free port> until :meth:`stop` (or the ``with`` block ends)."""

    def __init__(self, handler: Callable[[str, dict[str, Any]], Reply]) -> None:
        self.handler = handler
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []  # request headers, in the order of `requests`
        self._lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}") if n else {}
                path = self.path.split("?")[0]
                with outer._lock:
                    outer.requests.append((path, body))
                    outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = outer.handler(path, body)
                if reply.delay:
                    time.sleep(reply.delay)
                data = json.dumps(reply.body).encode() if not isinstance(reply.body, bytes) else reply.body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def completion(texts: list[str], finish: str = "stop", tokens: int = 10, chat: bool = False, **extra: Any):
    """A /completions (or /chat/completions) response body with one choice per text."""
    if chat:
        choices = [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": finish, **extra}
            for i, t in enumerate(texts)
        ]
    else:
        choices = [{"index": i, "text": t, "finish_reason": finish, **extra} for i, t in enumerate(texts)]
    return {
        "choices": choices,
        "usage": {"prompt_tokens": 7, "completion_tokens": tokens, "total_tokens": 7 + tokens},
    }
