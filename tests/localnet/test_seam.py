"""The one seam to the chain loads nothing of the chain's side.

A validator talking to finney, or a subnet's code talking to ``wmnet localnet up``,
imports ``wmnet.localnet.network`` (or ``wmnet.localnet``) for ``client_for`` /
``connect``: checked in a fresh interpreter, that import and a client for
``localnet`` or a ``ws://`` URL load no web server, no chain state machine, no
chain-side codec.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, sys
import wmnet.localnet
from wmnet.localnet.network import client_for
clients = [client_for("localnet"), client_for("ws://127.0.0.1:1"), client_for("finney"),
           wmnet.localnet.connect("ws://127.0.0.1:1")]
print(json.dumps(sorted(sys.modules)))
"""
# Top-level packages a client must not load, and wmnet's chain-side modules.
SERVER_SIDE = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "torch")
ALLOWED_WMNET = {"wmnet", "wmnet.localnet", "wmnet.localnet.network"}


def test_the_client_seam_loads_nothing_of_the_chain():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    modules = json.loads(done.stdout)
    loaded_server = sorted(m for m in modules if m.split(".")[0] in SERVER_SIDE)
    assert loaded_server == [], loaded_server
    wmnet = {m for m in modules if m.split(".")[0] == "wmnet"}
    assert wmnet == ALLOWED_WMNET, sorted(wmnet - ALLOWED_WMNET)
    assert "bittensor" in modules  # the SDK is the seam's one dependency


def test_the_private_api_client_stays_available():
    """``http://`` networks reach the private API through LocalnetSubstrate."""
    from wmnet.localnet.network import client_for
    from wmnet.localnet.substrate import LocalnetSubstrate

    client = client_for("http://127.0.0.1:1")
    assert isinstance(client._substrate, LocalnetSubstrate)
