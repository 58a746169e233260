"""Fixtures shared with the chain tests: an in-process wmnet chain behind the real SDK."""

from tests.localnet.conftest import chain, client  # noqa: F401 - pytest fixtures
