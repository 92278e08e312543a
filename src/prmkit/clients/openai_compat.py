"""A thread-safe client for OpenAI-compatible servers (vLLM, SGLang, llama.cpp, hosted APIs).

Shared by everything that talks to such a server: the ``openai`` policy
(:mod:`prmkit.policies.openai`) and the judge scorer (:mod:`prmkit.scorers.judge`). It sits in a
layer below both, so neither imports the other.

Example:
    >>> normalize_base_url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000/v1'
    >>> client = OpenAIClient("http://127.0.0.1:9", max_concurrency=2)  # no request is sent
    >>> client.base_url, client.usage["requests"]
    ('http://127.0.0.1:9/v1', 0)
    >>> client.close()
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlparse

from prmkit.errors import PrmkitError
from prmkit.progress import Bar

T = TypeVar("T")
R = TypeVar("R")

#: HTTP statuses below 500 that the ``openai`` SDK retries (it retries every 5xx too)
RETRY_STATUSES = frozenset({408, 409, 429})


def normalize_base_url(base_url: str) -> str:
    """``http://host:port`` -> ``http://host:port/v1``; a URL with a path is kept as given.

    Example:
        >>> normalize_base_url("http://127.0.0.1:8000"), normalize_base_url("http://h/v1/")
        ('http://127.0.0.1:8000/v1', 'http://h/v1')
    """
    url = base_url.rstrip("/")
    if urlparse(url).path in ("", "/"):
        url += "/v1"
    return url


def client_for(
    client: OpenAIClient | None,
    base_url: str | None,
    *,
    who: str,
    api_key: str | None = None,
    timeout: float = 120.0,
    max_retries: int = 5,
    max_concurrency: int = 8,
) -> OpenAIClient:
    """The given client, or a new one for ``base_url`` (default ``$OPENAI_BASE_URL``).

    Shared by every component that talks to an OpenAI-compatible server (policy, judge).

    Example:
        >>> client_for(None, "http://127.0.0.1:9", who="test").base_url
        'http://127.0.0.1:9/v1'
    """
    if client is not None:
        return client
    url = base_url or os.environ.get("OPENAI_BASE_URL")
    if not url:
        raise PrmkitError(f"{who} needs base_url (or $OPENAI_BASE_URL)", field="base_url")
    return OpenAIClient(
        url, api_key=api_key, timeout=timeout, max_retries=max_retries, max_concurrency=max_concurrency
    )


class OpenAIClient:
    """A thread-safe OpenAI-compatible client: the ``openai`` SDK plus a concurrency limit and counters.

    Transport, timeouts, retries and backoff are the SDK's (``openai.OpenAI``): it retries
    connection errors, timeouts, 408/409/429 and 5xx with exponential backoff and jitter
    (0.5 s doubling, at most 8 s) and honours ``Retry-After`` / ``Retry-After-Ms``. Requests go
    through the SDK's generic ``post``/``get`` so that server-specific fields (vLLM's
    ``continue_final_message``, ``stop_reason``, SGLang's ``matched_stop``) pass through
    unchanged as plain JSON. This class adds what batch jobs need on top: :meth:`map` (at most
    ``max_concurrency`` requests in flight, from a thread pool) and token/retry counters.

    Args:
        base_url: server root (``/v1`` is added when no path is given).
        api_key: bearer token (default ``$OPENAI_API_KEY``; local servers need none).
        timeout: seconds per request attempt.
        max_retries: retries after the first attempt (the SDK's ``max_retries``).
        max_concurrency: requests in flight at once (:meth:`map`; also the connection pool size).
        headers: extra HTTP headers for every request.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        max_concurrency: int = 8,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            import openai
        except ImportError as e:  # pragma: no cover - the `openai` extra
            raise PrmkitError("the OpenAI-compatible client needs `pip install prmkit[openai]`") from e

        self.base_url = normalize_base_url(base_url)
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_retries = max_retries
        self.max_concurrency = max(1, max_concurrency)
        self._lock = threading.Lock()
        self._local = threading.local()  # attempts of the request running on this thread
        # in-flight requests are bounded by the thread pool of :meth:`map`
        http = openai.DefaultHttpxClient(event_hooks={"request": [self._on_request]})
        self._sdk = openai.OpenAI(
            base_url=self.base_url,
            api_key=key or "EMPTY",  # local servers ignore it; the SDK insists on one
            timeout=timeout,
            max_retries=max_retries,
            default_headers=headers,
            http_client=http,
        )
        self._openai = openai
        #: cumulative counters (cost accounting)
        self.usage = {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def _on_request(self, request: Any) -> None:
        # called by the SDK's HTTP client for every attempt, on the thread making the request
        self._local.attempts = getattr(self._local, "attempts", 0) + 1
        if self._local.attempts > 1:
            with self._lock:
                self.usage["retries"] += 1

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """One JSON request (retried by the SDK); returns the decoded body or raises :class:`PrmkitError`."""
        oa = self._openai
        url = f"{self.base_url}/{path.lstrip('/')}"
        path = "/" + path.lstrip("/")
        self._local.attempts = 0
        try:
            if method.upper() == "GET":
                body = self._sdk.get(path, cast_to=object)
            else:
                body = self._sdk.post(path, body=payload, cast_to=object)
        except oa.APIStatusError as e:
            raise PrmkitError(
                f"{url}: {self._tries()}HTTP {e.status_code}: {e.response.text[:300]}"
            ) from None
        except oa.APIConnectionError as e:  # connect errors and timeouts, after the SDK's retries
            cause = e.__cause__ or e
            raise PrmkitError(f"{url}: {self._tries()}{type(cause).__name__}: {cause}") from None
        if not isinstance(body, dict):
            raise PrmkitError(f"{url}: response is not a JSON object: {str(body)[:200]!r}")
        self._count(body)
        return body

    def _tries(self) -> str:
        """``"request failed after N attempts: "`` when the SDK retried the failed request, else ``""``."""
        n = getattr(self._local, "attempts", 0)
        return f"request failed after {n} attempts: " if n > 1 else ""

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON with retries (see :meth:`request`)."""
        return self.request("POST", path, payload)

    def _count(self, body: dict[str, Any]) -> None:
        usage = (body.get("usage") or {}) if isinstance(body, dict) else {}
        with self._lock:
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            self.usage["completion_tokens"] += int(usage.get("completion_tokens") or 0)

    def first_model(self) -> str:
        """The id of the first model the server lists (``GET /models``)."""
        body = self.request("GET", "models")
        data = body.get("data") or []
        if not data:
            raise PrmkitError(f"{self.base_url}/models lists no model; pass model=...", field="model")
        return str(data[0]["id"])

    def map(self, fn: Callable[[T], R], items: Sequence[T], description: str = "requests") -> list[R]:
        """``[fn(x) for x in items]`` with at most ``max_concurrency`` calls in flight, in order."""
        if not items:
            return []
        with Bar(len(items), description) as bar:
            if self.max_concurrency == 1 or len(items) == 1:
                out = []
                for x in items:
                    out.append(fn(x))
                    bar.advance()
                return out
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
                futures = [pool.submit(fn, x) for x in items]
                results = []
                for f in futures:
                    results.append(f.result())
                    bar.advance()
                return results

    def close(self) -> None:
        """Close the connection pool (the SDK client's)."""
        self._sdk.close()


def choice_text(choice: dict[str, Any]) -> str:
    """Generated text of a completions or chat choice.

    Example:
        >>> choice_text({"text": "a"}), choice_text({"message": {"content": "b"}})
        ('a', 'b')
    """
    if "message" in choice:
        return (choice.get("message") or {}).get("content") or ""
    return choice.get("text") or ""
