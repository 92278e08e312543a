"""HTTP reward server with per-step PRM scores, dynamic batching and a Python client.

Example::

    prmkit serve --prm runs/prm --host 127.0.0.1 --port 8000
    python -c "from prmkit.serve import Client; print(Client().health())"
"""

from prmkit.serve.client import Client, make_reward_fn
from prmkit.serve.config import ServeConfig
from prmkit.serve.server import load_server_scorer, serve

__all__ = ["Client", "ServeConfig", "load_server_scorer", "make_reward_fn", "serve"]
