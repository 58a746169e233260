"""The object store for updates and checkpoints: content-addressed, write-once,
per-author, verified on read.

Every object is named by the sha256 hex of its bytes (a checkpoint's name is therefore
its model id, as ``wmnet.worldmodel.checkpoint`` defines it). Reads re-hash what they
read and refuse bytes whose hash is not their name, so a corrupted, truncated or
substituted object is never used. Two namespaces:

* ``objects/<id>``: checkpoints, written by validators only (a miner's handle,
  :class:`AuthorStore`, cannot write there);
* ``updates/<hotkey>/<id>``: training-shard updates, each miner under the prefix of its
  own hotkey. A validator reads a miner's update only from that miner's prefix, and
  the update's envelope must be signed by that hotkey (``wmnet.training.envelope``).

Objects are **write-once**: an object already stored under its name is never replaced
(a valid one is left as it is; only bytes that fail their own hash may be repaired by
their writer). Besides objects a store keeps *refs*: small named pointers (``head``:
the validator's latest checkpoint), like git refs; what a ref points at is still an
object, checked on read.

Reads are bounded: at most ``max_bytes`` (the size is checked before reading), within
``READ_TIMEOUT_S``, and in a directory store only from regular files: every path
component is opened with ``O_NOFOLLOW`` (no symlinks) and the object with
``O_NONBLOCK`` then ``fstat`` (a FIFO, a device or a directory is refused without
blocking).

Backends share one interface (:class:`ObjectStore`):

* :class:`LocalStore` (the default): a directory, written to a temp file and linked
  into place (``link`` fails rather than replace), so a reader never sees half an
  object and nothing stored is overwritten;
* ``wmnet.training.s3.S3Store``: an S3-compatible bucket through boto3 (what Templar's
  miners use with Cloudflare R2), keys ``<prefix>objects/<id>``,
  ``<prefix>updates/<hotkey>/<id>``, ``<prefix>refs/<name>``; writes are conditional
  (``If-None-Match: *``). On S3 the per-miner prefixes are enforced by the operator's
  bucket policy (each miner's credentials may write only ``updates/<its hotkey>/``);
  the validator checks the prefix and the signature either way.

:func:`open_store` picks one from a spec: a path, or
``s3://BUCKET[/PREFIX][?endpoint_url=URL&region=REGION]`` (credentials come from
boto3's usual chain: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, …).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_ID = re.compile(r"^[0-9a-f]{64}$")
_REF = re.compile(r"^[a-z0-9_-]{1,64}$")
# An ss58 hotkey: base58 characters only, so it is a safe path component and key part.
_AUTHOR = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{40,60}$")
READ_TIMEOUT_S = 30.0  # one object, all in
_CHUNK = 1 << 20


class StoreError(Exception):
    """The store cannot serve a request (the message says why)."""


class ObjectMissing(StoreError):
    pass


class ObjectCorrupt(StoreError):
    """Bytes whose sha256 is not their name, or an object over the size limit."""


class ObjectRefused(StoreError):
    """Not a regular file (a FIFO, a symlink, a device), or a read past its time."""


@dataclass(frozen=True)
class ObjectInfo:
    object_id: str
    size: int
    modified: float  # unix seconds


@dataclass(frozen=True)
class UpdateInfo:
    author: str  # the hotkey whose prefix holds it
    object_id: str
    size: int
    stored_at: float  # unix seconds, the store's own clock


@dataclass(frozen=True)
class Stored:
    """An object as read: its bytes and when the store says it was stored (the inode's
    change time in a directory, which no writer can set back; S3's LastModified)."""

    data: bytes
    stored_at: float


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


def check_author(hotkey: str) -> str:
    if not isinstance(hotkey, str) or not _AUTHOR.match(hotkey):
        raise StoreError(f"an update's author is an ss58 hotkey, got {hotkey!r}")
    return hotkey


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
        """Store a checkpoint (validators only); its object id (a no-op when stored)."""
        ...

    def get(self, oid: str, max_bytes: int) -> bytes:
        """The object's bytes, verified by hash; ObjectMissing / ObjectCorrupt otherwise."""
        ...

    def exists(self, oid: str) -> bool: ...

    def list(self) -> list[ObjectInfo]:
        """Every checkpoint object, any order."""
        ...

    def set_ref(self, name: str, oid: str) -> None: ...

    def get_ref(self, name: str) -> str | None:
        """The object id a ref names, or None when it is not set."""
        ...

    def put_update(self, author: str, data: bytes) -> str:
        """Store ``data`` under ``author``'s prefix (write-once); its object id."""
        ...

    def get_update(self, author: str, oid: str, max_bytes: int) -> Stored:
        """The update ``oid`` from ``author``'s prefix, verified, with its store time."""
        ...

    def list_updates(self) -> list[UpdateInfo]:
        """Every update of every author, any order."""
        ...


class AuthorStore:
    """A miner's handle on a store: reads checkpoints, writes updates under its own
    hotkey's prefix only (no checkpoints, no refs)."""

    def __init__(self, store: ObjectStore, author: str) -> None:
        self.store, self.author = store, check_author(author)

    def __repr__(self) -> str:
        return f"AuthorStore({self.store!r}, {self.author})"

    def get(self, oid: str, max_bytes: int) -> bytes:
        return self.store.get(oid, max_bytes)

    def exists(self, oid: str) -> bool:
        return self.store.exists(oid)

    def put_update(self, data: bytes) -> str:
        return self.store.put_update(self.author, data)

    def list_updates(self) -> list[UpdateInfo]:
        return self.store.list_updates()

    def get_update(self, author: str, oid: str, max_bytes: int) -> Stored:
        return self.store.get_update(author, oid, max_bytes)


# --- the directory store --------------------------------------------------------------

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_O_OBJECT = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _open_dir(parts: tuple[str, ...], root_fd: int) -> int:
    """An fd of ``root/parts…``, every component a real directory (no symlink)."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            nxt = os.open(part, _O_DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(
    root: Path, parts: tuple[str, ...], max_bytes: int, timeout_s: float = READ_TIMEOUT_S
) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``root/parts…`` (at most ``max_bytes``, within
    ``timeout_s``) and its stat. ObjectMissing, ObjectRefused or ObjectCorrupt
    (over ``max_bytes``) otherwise; never follows a symlink, never blocks on a FIFO."""
    name = "/".join(parts)
    deadline = time.monotonic() + timeout_s
    try:
        root_fd = os.open(root, _O_DIR & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ObjectMissing(f"no store at {root}") from None
    try:
        dir_fd = _open_dir(parts[:-1], root_fd)
        try:
            fd = os.open(parts[-1], _O_OBJECT, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    except FileNotFoundError:
        raise ObjectMissing(f"no object {name} in {root}") from None
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise ObjectRefused(f"{name} in {root} is a symlink or not a file; refused") from None
        raise ObjectRefused(f"{name} in {root}: {error.strerror}") from None
    finally:
        os.close(root_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ObjectRefused(f"{name} in {root} is not a regular file; refused")
        if info.st_size > max_bytes:
            raise ObjectCorrupt(f"{name} is {info.st_size} bytes, over the {max_bytes} limit")
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise ObjectRefused(f"reading {name} took over {timeout_s:g} s; refused")
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - size))
            if not chunk:
                break
            size += len(chunk)
            chunks.append(chunk)
            if size > max_bytes:
                raise ObjectCorrupt(f"{name} grew past the {max_bytes}-byte limit")
        return b"".join(chunks), info
    finally:
        os.close(fd)


class LocalStore:
    """A directory: ``objects/<id>``, ``updates/<hotkey>/<id>``, ``refs/<name>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.objects = self.root / "objects"
        self.updates = self.root / "updates"
        self.refs = self.root / "refs"
        for folder in (self.objects, self.updates, self.refs):
            folder.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _tmp(self, folder: Path, data: bytes) -> str:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return tmp

    def _write_once(self, parts: tuple[str, ...], data: bytes) -> str:
        """Link ``data`` into ``root/parts…`` unless a valid copy is there already."""
        oid = object_id(data)
        folder = self.root.joinpath(*parts[:-1])
        folder.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp(folder, data)
        try:
            try:
                os.link(tmp, folder / parts[-1])  # fails, never replaces, when it exists
            except FileExistsError:
                try:
                    read_regular(self.root, parts, len(data))
                    stored = True
                except StoreError:
                    stored = False
                if not stored:
                    # The name holds bytes that are not this object (corrupt, a FIFO,
                    # a symlink): the writer of this prefix repairs it.
                    with contextlib.suppress(IsADirectoryError):
                        os.replace(tmp, folder / parts[-1])
        finally:
            Path(tmp).unlink(missing_ok=True)
        return oid

    def put(self, data: bytes) -> str:
        return self._write_once(("objects", object_id(data)), data)

    def get(self, oid: str, max_bytes: int) -> bytes:
        data, _ = read_regular(self.root, ("objects", check_id(oid)), max_bytes)
        return verified(oid, data, max_bytes)

    def exists(self, oid: str) -> bool:
        path = self.objects / check_id(oid)
        return path.is_file() and not path.is_symlink()

    def list(self) -> list[ObjectInfo]:
        out = []
        for entry in os.scandir(self.objects):
            if _ID.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    st = entry.stat(follow_symlinks=False)
                    out.append(ObjectInfo(entry.name, st.st_size, st.st_mtime))
        return out

    def put_update(self, author: str, data: bytes) -> str:
        return self._write_once(("updates", check_author(author), object_id(data)), data)

    def get_update(self, author: str, oid: str, max_bytes: int) -> Stored:
        parts = ("updates", check_author(author), check_id(oid))
        data, info = read_regular(self.root, parts, max_bytes)
        return Stored(verified(oid, data, max_bytes), info.st_ctime_ns / 1e9)

    def list_updates(self) -> list[UpdateInfo]:
        out = []
        for folder in os.scandir(self.updates):
            if not (_AUTHOR.match(folder.name) and folder.is_dir(follow_symlinks=False)):
                continue
            for entry in os.scandir(folder.path):
                if _ID.match(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):
                        st = entry.stat(follow_symlinks=False)
                        out.append(
                            UpdateInfo(folder.name, entry.name, st.st_size, st.st_ctime_ns / 1e9)
                        )
        return out

    def set_ref(self, name: str, oid: str) -> None:
        # Refs are the one thing that changes: a temp file renamed over the old ref.
        path = self.refs / check_ref(name)
        tmp = self._tmp(self.refs, check_id(oid).encode())
        try:
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def get_ref(self, name: str) -> str | None:
        try:
            data, _ = read_regular(self.root, ("refs", check_ref(name)), 128)
        except ObjectMissing:
            return None
        return check_id(data.decode("ascii", "replace").strip())


def open_store(spec: str) -> ObjectStore:
    """A store from ``spec``: a directory path, or ``s3://bucket/prefix?endpoint_url=…``."""
    if spec.startswith("s3://"):
        from wmnet.training.s3 import S3Store

        return S3Store.from_url(spec)
    if "://" in spec:
        raise StoreError(f"unknown store {spec!r}: give a directory or s3://bucket/prefix")
    return LocalStore(spec)
