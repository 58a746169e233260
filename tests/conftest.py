"""Shared test set-up: keep the SDK's caches and config out of $HOME."""

from __future__ import annotations

import importlib.abc
import os
import sys
import tempfile

_SDK_HOME = tempfile.mkdtemp(prefix="wmnet-sdk-")
os.environ.setdefault("BTCLI_TOKEN_SYMBOLS_CACHE", os.path.join(_SDK_HOME, "token_symbols.json"))
os.environ.setdefault("BTCLI_CONFIG", os.path.join(_SDK_HOME, "config.yml"))


class _BareNameRefuser(importlib.abc.MetaPathFinder):
    """Refuses the folders' bare names, so no module is imported under two names.

    `python -m pytest` puts the repository root on sys.path, where `localnet/` would import
    as `localnet` beside the installed `wmnet.localnet`: two copies, two sets of globals.
    """

    BARE = frozenset(
        {
            "protocol",
            "worldmodel",
            "localnet",
            "miner",
            "validator",
            "ledger",
            "neurons",
            "bench",
            "training",
        }
    )

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib's API
        if fullname.partition(".")[0] in self.BARE:
            raise ImportError(f"import wmnet.{fullname}, not the bare name {fullname!r}")
        return None


sys.meta_path.insert(0, _BareNameRefuser())
