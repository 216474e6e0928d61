"""Encode row payloads so that no item is ever rejected for DynamoDB's 400 KB limit.

Small payloads are stored as JSON bytes. Larger ones are zlib-compressed (chat text and widget
JSON compress 5-10x). If the compressed payload is still too big for one DynamoDB item it is
written to S3 under the user's prefix and the row keeps only the pointer.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Encoding = Literal["json", "json+zlib", "s3"]

COMPRESS_ABOVE_BYTES = 4_096
# DynamoDB counts attribute names and values toward 400 KB; keep a wide margin for the keys
# and the other attributes of the row.
INLINE_LIMIT_BYTES = 350_000


class LargePayloadError(RuntimeError):
    """A payload needs S3 offload but no bucket is configured."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete_many(self, keys: list[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class EncodedPayload:
    encoding: Encoding
    body: bytes | None
    s3_key: str | None


class S3BlobStore:
    """S3 objects for offloaded payloads; the bucket is private and encrypted (template.yaml)."""

    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self._client = client

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            ContentEncoding="deflate",
        )

    def get(self, key: str) -> bytes:
        response = self._client.get_object(Bucket=self.bucket, Key=key)
        data: bytes = response["Body"].read()
        return data

    def delete_many(self, keys: list[str]) -> None:
        # DeleteObjects takes at most 1,000 keys per call.
        for start in range(0, len(keys), 1_000):
            chunk = keys[start : start + 1_000]
            self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )


class PayloadCodec:
    def __init__(self, blobs: BlobStore | None) -> None:
        self._blobs = blobs

    def encode(self, raw: bytes, s3_key: str) -> EncodedPayload:
        if len(raw) <= COMPRESS_ABOVE_BYTES:
            return EncodedPayload("json", raw, None)
        compressed = zlib.compress(raw, level=6)
        if len(compressed) <= INLINE_LIMIT_BYTES:
            return EncodedPayload("json+zlib", compressed, None)
        if self._blobs is None:
            raise LargePayloadError(
                f"payload of {len(raw)} bytes ({len(compressed)} compressed) exceeds the "
                "DynamoDB item limit and LARGE_ITEM_BUCKET is not configured"
            )
        self._blobs.put(s3_key, compressed)
        return EncodedPayload("s3", None, s3_key)

    def decode(self, encoding: str, body: bytes | None, s3_key: str | None) -> bytes:
        if encoding == "json":
            return body or b""
        if encoding == "json+zlib":
            return zlib.decompress(body or b"")
        if encoding == "s3" and s3_key and self._blobs is not None:
            return zlib.decompress(self._blobs.get(s3_key))
        raise LargePayloadError(f"cannot decode a payload stored as {encoding!r}")

    def delete_offloaded(self, keys: list[str]) -> None:
        if keys and self._blobs is not None:
            self._blobs.delete_many(keys)
