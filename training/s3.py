"""The S3-compatible object store backend (boto3): AWS S3, Cloudflare R2, MinIO, moto.

Same contract as :class:`wmnet.training.store.LocalStore`: objects under
``<prefix>objects/<sha256>``, refs under ``<prefix>refs/<name>``, every read re-hashed
and refused unless the bytes are their name. boto3 is an optional dependency
(``pip install 'wmnet[s3]'``); it is imported only when an ``s3://`` store is opened.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from wmnet.training.store import (
    ObjectCorrupt,
    ObjectInfo,
    ObjectMissing,
    StoreError,
    check_id,
    check_ref,
    object_id,
    verified,
)


def _missing(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound")


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
        client = boto3.client(
            "s3", endpoint_url=query.get("endpoint_url"), region_name=query.get("region")
        )
        return cls(client, parts.netloc, parts.path)

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}/{name}"

    def exists(self, oid: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key("objects", check_id(oid)))
        except Exception as error:
            if _missing(error):
                return False
            raise StoreError(f"s3 head {oid}: {type(error).__name__}") from None
        return True

    def put(self, data: bytes) -> str:
        oid = object_id(data)
        if not self.exists(oid):
            self.client.put_object(Bucket=self.bucket, Key=self._key("objects", oid), Body=data)
        return oid

    def get(self, oid: str, max_bytes: int) -> bytes:
        key = self._key("objects", check_id(oid))
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _missing(error):
                raise ObjectMissing(f"no object {oid} in {self!r}") from None
            raise StoreError(f"s3 get {oid}: {type(error).__name__}") from None
        if int(response.get("ContentLength", 0)) > max_bytes:
            response["Body"].close()
            raise ObjectCorrupt(f"object {oid} is over the {max_bytes}-byte limit")
        data = response["Body"].read(max_bytes + 1)
        return verified(oid, data, max_bytes)

    def list(self) -> list[ObjectInfo]:
        out = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key("objects", "")
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                try:
                    check_id(name)
                except StoreError:
                    continue
                out.append(ObjectInfo(name, int(item["Size"]), item["LastModified"].timestamp()))
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
