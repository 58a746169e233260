"""One registry idiom for the chain's name tables: call handlers, storage
readers, runtime APIs.

Like the SDK's ``bittensor/intents/registry.py``, registering a name twice
raises at import, so a typo or a copy-paste can never silently replace an
existing entry.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class DuplicateRegistration(KeyError):
    """A name was registered twice in one registry."""


class Registry(Generic[K, V]):
    """A name → entry table that refuses duplicates."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[K, V] = {}

    def add(self, key: K, value: V) -> V:
        if key in self._entries:
            raise DuplicateRegistration(f"{self.kind} {key!r} is already registered")
        self._entries[key] = value
        return value

    def register(self, *keys: K) -> Callable[[V], V]:
        """Decorator: register the decorated entry under every key given."""

        def decorate(value: V) -> V:
            for key in keys:
                self.add(key, value)
            return value

        return decorate

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def __getitem__(self, key: K) -> V:
        return self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[K]:
        return list(self._entries)
