"""A real reward server whose scorer sleeps before scoring (to test overload and shutdown).

Usage: python tests/serve_slow.py PRM_DIR PORT DELAY_S [MAX_QUEUE] [TIMEOUT_S]
"""

from __future__ import annotations

import sys
import time

from prmkit.scorers import load_scorer
from prmkit.serve import ServeConfig, serve


class Slow:
    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def score_batch(self, problems, steps):
        time.sleep(self.delay)
        return self.inner.score_batch(problems, steps)

    def close(self) -> None:
        pass


if __name__ == "__main__":
    prm, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    max_queue = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
    cfg = ServeConfig(
        prm=prm, port=port, max_queue=max_queue, request_timeout_s=timeout, max_batch_solutions=1
    )
    serve(cfg, scorer=Slow(load_scorer(None, prm), delay))
