"""Reading tus request headers into the service's inputs: ``Upload-Metadata``, ``Upload-Length``
(or ``Upload-Defer-Length``), ``Upload-Offset``, ``Upload-Checksum`` and the bearer token. Each
malformed header is a validation error naming it, never a 500."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from lectern_common.errors import DomainError, ErrorKind

from lectern_upload import errors
from lectern_upload.uploads.schemas import ChunkChecksum, NewUpload
from lectern_upload.writing.checksum import CHECKSUM_ALGORITHMS

# Upload-Metadata is stored with the upload and echoed on HEAD: bounded as a whole, per key and per
# value, so no client makes rows (or answers) of any size, and an over-long value is a clear error
# naming its key instead of a database error.
MAX_METADATA_HEADER_BYTES = 4096
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_CHARS = 1024


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata: key base64,key2 base64`` (values may be absent)."""
    result: dict[str, str] = {}
    if not header:
        return result
    if len(header.encode()) > MAX_METADATA_HEADER_BYTES:
        raise errors.invalid(
            "upload.metadata_too_large",
            f"Upload-Metadata must be at most {MAX_METADATA_HEADER_BYTES} bytes",
            {"Upload-Metadata": f"at most {MAX_METADATA_HEADER_BYTES} bytes"},
        )
    for item in header.split(","):
        item = item.strip()
        if item:
            key, _, encoded = item.partition(" ")
            result[_metadata_key(key)] = _metadata_value(key, encoded)
    return result


def _metadata_key(key: str) -> str:
    if len(key) > MAX_METADATA_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise errors.invalid(
            "upload.invalid_metadata",
            f"Upload-Metadata keys must be printable ASCII of at most {MAX_METADATA_KEY_LENGTH} characters",
            {"Upload-Metadata": "invalid key"},
        )
    return key


def _metadata_value(key: str, encoded: str) -> str:
    try:
        value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded else ""
    except (binascii.Error, UnicodeDecodeError):
        raise errors.invalid(
            "upload.invalid_metadata", f"Upload-Metadata value for {key!r} is not base64 UTF-8"
        ) from None
    if len(value) > MAX_METADATA_VALUE_CHARS:
        raise errors.invalid(
            "upload.metadata_too_large",
            f"Upload-Metadata value for {key!r} must be at most {MAX_METADATA_VALUE_CHARS} characters",
            {f"Upload-Metadata.{key}": f"at most {MAX_METADATA_VALUE_CHARS} characters"},
        )
    return value


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name.lower())
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise errors.invalid(
            f"upload.invalid_{name.lower().replace('-', '_')}", f"{name} must be a non-negative integer"
        )
    return int(raw)


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def new_upload(headers: Mapping[str, str]) -> NewUpload:
    """The upload a creation (POST) asks for: its length (or a deferred one) and its metadata.
    Which course it is for is the service's to decide (the metadata's, else the token's)."""
    length = int_header(headers, "Upload-Length")
    deferred = headers.get("upload-defer-length")
    if length is None and deferred != "1":
        raise errors.invalid("upload.missing_length", "Upload-Length (or Upload-Defer-Length: 1) is required")
    if length is not None and deferred is not None:
        raise errors.invalid("upload.invalid_length", "send Upload-Length or Upload-Defer-Length, not both")
    raw_metadata = headers.get("upload-metadata")
    metadata = parse_metadata(raw_metadata)
    return NewUpload(
        file_name=metadata.get("filename") or metadata.get("name") or metadata.get("fileName") or "",
        size_bytes=length,
        mime_type=metadata.get("filetype") or metadata.get("mimeType") or metadata.get("contentType") or "",
        course_id=metadata.get("courseId"),
        chapter_id=metadata.get("chapterId"),
        lesson_title=metadata.get("lessonTitle"),
        tus_metadata=raw_metadata,
    )


def has_body(headers: Mapping[str, str]) -> bool:
    return int(headers.get("content-length") or 0) > 0 or "chunked" in headers.get("transfer-encoding", "")


def parse_checksum(header: str | None) -> ChunkChecksum | None:
    """An ``Upload-Checksum: <algorithm> <base64>`` header (sha1 and sha256)."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise DomainError(
            "upload.checksum_algorithm_unsupported",
            f"checksum algorithm {algorithm!r} is not supported; use one of {', '.join(CHECKSUM_ALGORITHMS)}",
            ErrorKind.VALIDATION_FAILED,
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid("upload.invalid_checksum", "Upload-Checksum is not valid base64") from None
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise errors.invalid("upload.invalid_checksum", f"Upload-Checksum is not a {algorithm} digest")
    return ChunkChecksum(algorithm=algorithm, digest=digest)
