"""Configuration of the reward server (one dataclass, mapped to ``prmkit serve`` flags)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prmkit.config import check_min, check_positive, check_range


@dataclass
class ServeConfig:
    """Options of ``prmkit serve``.

    Example:
        >>> ServeConfig(port=9000).max_wait_ms
        1.0
    """

    prm: str | None = field(default=None, metadata={"help": "PRM checkpoint directory (or scorer name)."})
    format: str | None = field(
        default=None, metadata={"help": "PRM format; read from prmkit.json if absent."}
    )
    host: str = field(default="127.0.0.1", metadata={"help": "Interface to bind."})
    port: int = field(default=8000, metadata={"help": "TCP port."})
    device: str | None = field(default=None, metadata={"help": "Scorer device (cpu, cuda)."})
    batching: bool = field(default=True, metadata={"help": "Gather concurrent requests into one forward."})
    max_wait_ms: float = field(
        default=1.0,
        metadata={
            "help": "How long a batch waits for more requests (requests that arrive while a batch "
            "is being scored join the next one anyway)."
        },
    )
    max_batch_solutions: int = field(default=64, metadata={"help": "Most solutions per batched forward."})
    max_batch_chars: int = field(default=200_000, metadata={"help": "Budget of characters per batch."})
    max_queue: int = field(default=256, metadata={"help": "Most queued requests before answering 429."})
    max_solutions: int = field(default=64, metadata={"help": "Most solutions in one request."})
    max_steps: int = field(default=128, metadata={"help": "Most steps in one solution."})
    max_chars: int = field(default=100_000, metadata={"help": "Most characters in one request."})
    request_timeout_s: float = field(
        default=60.0,
        metadata={"help": "Per-request timeout in seconds (504 after it).", "flag": "--request-timeout"},
    )
    retry_after_s: int = field(default=1, metadata={"help": "Retry-After header sent with 429."})
    aggregation: str = field(
        default="min", metadata={"help": "Default step aggregation for solution scores."}
    )
    query_split: str = field(
        default="prompts-or-delimiter",
        metadata={
            "help": "How /get_reward splits a query: 'prompts-or-delimiter' (use 'prompts' when sent)."
        },
    )
    query_delimiter: str = field(
        default="<|im_start|>assistant\n",
        metadata={"help": "Text that ends the problem in a /get_reward query (last occurrence)."},
    )
    steps_preset: str = field(default="\n\n", metadata={"help": "How a response is cut into steps."})
    graceful_timeout_s: float = field(default=30.0, metadata={"help": "Time to finish requests on shutdown."})
    api_key: str | None = field(
        default=None,
        metadata={
            "help": "Require 'Authorization: Bearer KEY' on every endpoint but /health (401 without it); "
            "default: the PRMKIT_API_KEY environment variable, else no key."
        },
    )

    def __post_init__(self) -> None:
        check_range(self, 0, 65535, "port")
        check_min(self, 1, "max_batch_solutions", "max_batch_chars", "max_queue", "max_solutions", "max_steps",
                  "max_chars")  # fmt: skip
        check_min(self, 0, "max_wait_ms", "retry_after_s", "graceful_timeout_s")
        check_positive(self, "request_timeout_s")
