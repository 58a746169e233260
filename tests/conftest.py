"""Shared test set-up: keep the SDK's caches and config out of $HOME."""

from __future__ import annotations

import os
import tempfile

_SDK_HOME = tempfile.mkdtemp(prefix="wmnet-sdk-")
os.environ.setdefault("BTCLI_TOKEN_SYMBOLS_CACHE", os.path.join(_SDK_HOME, "token_symbols.json"))
os.environ.setdefault("BTCLI_CONFIG", os.path.join(_SDK_HOME, "config.yml"))
