"""Server metrics in the Prometheus text exposition format (no extra dependency).

Example:
    >>> m = Metrics()
    >>> m.observe_request("/v1/score", 200, 0.012)
    >>> "prmkit_requests_total" in m.render()
    True
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, v)] += 1
        self.total += v
        self.n += 1

    def render(self, name: str, help_: str) -> list[str]:
        out = [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
        cum = 0
        for b, c in zip(self.buckets, self.counts, strict=False):
            cum += c
            out.append(f'{name}_bucket{{le="{b}"}} {cum}')
        cum += self.counts[-1]
        out.append(f'{name}_bucket{{le="+Inf"}} {cum}')
        out.append(f"{name}_sum {self.total}")
        out.append(f"{name}_count {self.n}")
        return out


class Metrics:
    """Counters and histograms of one server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency = _Histogram(LATENCY_BUCKETS)
        self.batch_size = _Histogram(BATCH_BUCKETS)
        self.batch_seconds = _Histogram(LATENCY_BUCKETS)
        self.queue_depth = 0
        self.rejected = 0
        self.dropped = 0
        self.solutions_scored = 0

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(path, status)] += 1
            self.latency.observe(seconds)

    def observe_batch(self, n_solutions: int, seconds: float) -> None:
        with self._lock:
            self.batch_size.observe(n_solutions)
            self.batch_seconds.observe(seconds)
            self.solutions_scored += n_solutions

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP prmkit_requests_total HTTP requests by path and status.",
                "# TYPE prmkit_requests_total counter",
            ]
            for (path, status), n in sorted(self.requests.items()):
                lines.append(f'prmkit_requests_total{{path="{path}",status="{status}"}} {n}')
            lines += self.latency.render("prmkit_request_latency_seconds", "Request latency.")
            lines += self.batch_size.render("prmkit_batch_size", "Solutions per batched forward.")
            lines += self.batch_seconds.render("prmkit_batch_seconds", "Time per batched forward.")
            lines += [
                "# HELP prmkit_queue_depth Requests waiting to be scored.",
                "# TYPE prmkit_queue_depth gauge",
                f"prmkit_queue_depth {self.queue_depth}",
                "# HELP prmkit_rejected_total Requests answered 429 (queue full or expected wait too long).",
                "# TYPE prmkit_rejected_total counter",
                f"prmkit_rejected_total {self.rejected}",
                "# HELP prmkit_dropped_total Queued requests dropped unscored (client gone or timed out).",
                "# TYPE prmkit_dropped_total counter",
                f"prmkit_dropped_total {self.dropped}",
                "# HELP prmkit_solutions_scored_total Solutions scored.",
                "# TYPE prmkit_solutions_scored_total counter",
                f"prmkit_solutions_scored_total {self.solutions_scored}",
            ]
            return "\n".join(lines) + "\n"
