"""The object store for updates and checkpoints: content-addressed, verified on read.

Every object is named by the sha256 hex of its bytes (a checkpoint's name is therefore
its model id, as ``wmnet.worldmodel.checkpoint`` defines it). ``get`` re-hashes what it
read and refuses bytes whose hash is not their name, so a corrupted, truncated or
substituted object is never used. Besides objects, a store keeps *refs*: small named
pointers (``head``: the validator's latest checkpoint), like git refs; what a ref
points at is still an object, checked on read.

Backends share one interface (:class:`ObjectStore`):

* :class:`LocalStore` (the default): a directory, ``objects/<id>`` and ``refs/<name>``,
  written to a temp file and renamed, so a reader never sees half an object;
* ``wmnet.training.s3.S3Store``: an S3-compatible bucket through boto3 (what Templar's
  miners use with Cloudflare R2), keys ``<prefix>objects/<id>`` and ``<prefix>refs/<name>``.

:func:`open_store` picks one from a spec: a path, or
``s3://BUCKET[/PREFIX][?endpoint_url=URL&region=REGION]`` (credentials come from
boto3's usual chain: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, …).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_ID = re.compile(r"^[0-9a-f]{64}$")
_REF = re.compile(r"^[a-z0-9_-]{1,64}$")


class StoreError(Exception):
    """The store cannot serve a request (the message says why)."""


class ObjectMissing(StoreError):
    pass


class ObjectCorrupt(StoreError):
    """Bytes whose sha256 is not their name, or an object over the size limit."""


@dataclass(frozen=True)
class ObjectInfo:
    object_id: str
    size: int
    modified: float  # unix seconds


def object_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_id(oid: str) -> str:
    if not isinstance(oid, str) or not _ID.match(oid):
        raise StoreError(f"object ids are 64 lowercase hex digits, got {oid!r}")
    return oid


def check_ref(name: str) -> str:
    if not _REF.match(name):
        raise StoreError(f"ref names are 1-64 of [a-z0-9_-], got {name!r}")
    return name


def verified(oid: str, data: bytes, max_bytes: int) -> bytes:
    """``data`` if it is the object ``oid`` within ``max_bytes``; ObjectCorrupt otherwise."""
    if len(data) > max_bytes:
        raise ObjectCorrupt(f"object {oid} is over the {max_bytes}-byte limit")
    actual = object_id(data)
    if actual != oid:
        raise ObjectCorrupt(
            f"object {oid} read back with sha256 {actual} ({len(data)} bytes): corrupted or "
            "truncated; refused"
        )
    return data


class ObjectStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data``; its object id (a no-op when it is already there)."""
        ...

    def get(self, oid: str, max_bytes: int) -> bytes:
        """The object's bytes, verified by hash; ObjectMissing / ObjectCorrupt otherwise."""
        ...

    def exists(self, oid: str) -> bool: ...

    def list(self) -> list[ObjectInfo]:
        """Every object, any order."""
        ...

    def set_ref(self, name: str, oid: str) -> None: ...

    def get_ref(self, name: str) -> str | None:
        """The object id a ref names, or None when it is not set."""
        ...


class LocalStore:
    """A directory: ``objects/<id>``, ``refs/<name>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.objects = self.root / "objects"
        self.refs = self.root / "refs"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.refs.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _write(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, data: bytes) -> str:
        oid = object_id(data)
        path = self.objects / oid
        if not path.exists():
            self._write(path, data)
        return oid

    def get(self, oid: str, max_bytes: int) -> bytes:
        path = self.objects / check_id(oid)
        try:
            with open(path, "rb") as fh:
                data = fh.read(max_bytes + 1)
        except FileNotFoundError:
            raise ObjectMissing(f"no object {oid} in {self.root}") from None
        return verified(oid, data, max_bytes)

    def exists(self, oid: str) -> bool:
        return (self.objects / check_id(oid)).is_file()

    def list(self) -> list[ObjectInfo]:
        out = []
        for entry in os.scandir(self.objects):
            if _ID.match(entry.name):
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                out.append(ObjectInfo(entry.name, st.st_size, st.st_mtime))
        return out

    def set_ref(self, name: str, oid: str) -> None:
        self._write(self.refs / check_ref(name), check_id(oid).encode())

    def get_ref(self, name: str) -> str | None:
        try:
            text = (self.refs / check_ref(name)).read_text().strip()
        except FileNotFoundError:
            return None
        return check_id(text)


def open_store(spec: str) -> ObjectStore:
    """A store from ``spec``: a directory path, or ``s3://bucket/prefix?endpoint_url=…``."""
    if spec.startswith("s3://"):
        from wmnet.training.s3 import S3Store

        return S3Store.from_url(spec)
    if "://" in spec:
        raise StoreError(f"unknown store {spec!r}: give a directory or s3://bucket/prefix")
    return LocalStore(spec)
