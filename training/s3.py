"""The S3-compatible object store backend (boto3): AWS S3, Cloudflare R2, MinIO, moto.

Same contract as :class:`wmnet.training.store.LocalStore`: checkpoints under
``<prefix>objects/<sha256>``, each miner's updates under
``<prefix>updates/<hotkey>/<sha256>``, refs under ``<prefix>refs/<name>``; every read
bounded by size (checked from the response's length before reading) and re-hashed,
refused unless the bytes are their name. Writes are conditional (``If-None-Match: *``,
S3's and R2's write-once put), so a stored object is never replaced. Which credentials
may write which prefix is the bucket policy's business (a miner: its own
``updates/<hotkey>/`` only; validators: ``objects/`` and ``refs/``); the validator reads a
miner's update only from that miner's prefix and checks its signature. boto3 is an
optional dependency (``pip install 'wmnet[s3]'``); it is imported only when an ``s3://``
store is opened.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from wmnet.training.store import (
    READ_TIMEOUT_S,
    ObjectCorrupt,
    ObjectInfo,
    ObjectMissing,
    Stored,
    StoreError,
    UpdateInfo,
    check_author,
    check_id,
    check_ref,
    object_id,
    verified,
)


def _code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def _missing(error: Exception) -> bool:
    return _code(error) in ("404", "NoSuchKey", "NotFound")


def _precondition_failed(error: Exception) -> bool:
    return _code(error) in ("412", "PreconditionFailed", "ConditionalRequestConflict")


class S3Store:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def __repr__(self) -> str:
        return f"S3Store(s3://{self.bucket}/{self.prefix})"

    @classmethod
    def from_url(cls, url: str) -> S3Store:
        """``s3://bucket/prefix?endpoint_url=http://…&region=…``."""
        try:
            import boto3
        except ImportError:
            raise StoreError("s3:// stores need boto3: pip install 'wmnet[s3]'") from None
        parts = urlsplit(url)
        if not parts.netloc:
            raise StoreError(f"{url!r} names no bucket")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint_url", "region"}
        if unknown:
            raise StoreError(f"unknown s3 store options {sorted(unknown)}")
        from botocore.config import Config

        # Every read and write is bounded in time, not only in bytes.
        timeouts = Config(
            connect_timeout=10, read_timeout=READ_TIMEOUT_S, retries={"max_attempts": 2}
        )
        client = boto3.client(
            "s3",
            endpoint_url=query.get("endpoint_url"),
            region_name=query.get("region"),
            config=timeouts,
        )
        return cls(client, parts.netloc, parts.path)

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}/{name}"

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _missing(error):
                return False
            raise StoreError(f"s3 head {key}: {type(error).__name__}") from None
        return True

    def exists(self, oid: str) -> bool:
        return self._exists(self._key("objects", check_id(oid)))

    def _put_once(self, key: str, data: bytes) -> None:
        if self._exists(key):
            return
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        except Exception as error:
            if _precondition_failed(error):  # someone stored it meanwhile: keep theirs
                return
            raise StoreError(f"s3 put {key}: {type(error).__name__}") from None

    def put(self, data: bytes) -> str:
        oid = object_id(data)
        self._put_once(self._key("objects", oid), data)
        return oid

    def _read(self, key: str, what: str, max_bytes: int) -> tuple[bytes, float]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _missing(error):
                raise ObjectMissing(f"no object {what} in {self!r}") from None
            raise StoreError(f"s3 get {what}: {type(error).__name__}") from None
        body = response["Body"]
        try:
            if int(response.get("ContentLength", 0)) > max_bytes:
                raise ObjectCorrupt(f"object {what} is over the {max_bytes}-byte limit")
            data = body.read(max_bytes + 1)
        finally:
            body.close()
        modified = response.get("LastModified")
        return data, modified.timestamp() if modified is not None else 0.0

    def get(self, oid: str, max_bytes: int) -> bytes:
        data, _ = self._read(self._key("objects", check_id(oid)), oid, max_bytes)
        return verified(oid, data, max_bytes)

    def put_update(self, author: str, data: bytes) -> str:
        oid = object_id(data)
        self._put_once(self._key("updates", f"{check_author(author)}/{oid}"), data)
        return oid

    def get_update(self, author: str, oid: str, max_bytes: int) -> Stored:
        key = self._key("updates", f"{check_author(author)}/{check_id(oid)}")
        data, stored_at = self._read(key, f"{author}/{oid}", max_bytes)
        return Stored(verified(oid, data, max_bytes), stored_at)

    def _listing(self, prefix: str):  # noqa: ANN202 - boto3's page items
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            yield from page.get("Contents", [])

    def list(self) -> list[ObjectInfo]:
        out = []
        for item in self._listing(self._key("objects", "")):
            name = item["Key"].rsplit("/", 1)[-1]
            try:
                check_id(name)
            except StoreError:
                continue
            out.append(ObjectInfo(name, int(item["Size"]), item["LastModified"].timestamp()))
        return out

    def list_updates(self) -> list[UpdateInfo]:
        base = self._key("updates", "")
        out = []
        for item in self._listing(base):
            author, _, name = item["Key"][len(base) :].partition("/")
            try:
                check_author(author)
                check_id(name)
            except StoreError:
                continue
            out.append(
                UpdateInfo(author, name, int(item["Size"]), item["LastModified"].timestamp())
            )
        return out

    def set_ref(self, name: str, oid: str) -> None:
        key = self._key("refs", check_ref(name))
        self.client.put_object(Bucket=self.bucket, Key=key, Body=check_id(oid).encode())

    def get_ref(self, name: str) -> str | None:
        key = self._key("refs", check_ref(name))
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _missing(error):
                return None
            raise StoreError(f"s3 get ref {name}: {type(error).__name__}") from None
        return check_id(response["Body"].read(128).decode("ascii", "replace").strip())
