"""An S3 ObjectStore over kept-alive HTTP/1.1 connections, without botocore.

For a process whose S3 use is a handful of calls on a hot path (upload's multipart writes):
botocore and boto3 cost ~25 MiB of RSS for an S3 client (its session, service model, endpoint
rules) and a sixth of the upload service's CPU samples for UploadPart alone (bench/upload). This
store speaks the dozen S3 requests :class:`~lectern_common.objectstore.ObjectStore` names with
``http.client`` and SigV4 (:mod:`lectern_common.s3_sigv4`), path-style.

Each call runs in a thread (STYLE rule 9) on a connection of its own taken from a pool, so a part's
8 MiB body goes out in one ``sendall`` from the caller's buffer, never copied. Connect and read are
bounded by timeouts; a refused, reset or timed-out connection and a 5xx/``SlowDown`` answer are
retried (3 attempts, backoff with jitter) on a fresh connection, as botocore's standard mode does.
What still fails reaches callers as :class:`ObjectStoreUnavailable` naming the operation, with an
:class:`S3ErrorAnswer` (status and S3 error code) or the socket's error as its ``__cause__``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from lectern_common.objectstore import ObjectStoreUnavailable, UploadedPart
from lectern_common.s3_sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, SigV4Signer, canonical_query, uri_encode

_MISSING = frozenset({"NoSuchKey", "NotFound", "NoSuchUpload"})
_RETRIED_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"})
Body = bytes | bytearray | memoryview


class S3ErrorAnswer(Exception):
    """An error answer from the store: its HTTP status and S3 error code (``""`` when it sent none)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"S3 answered {status} {code}".rstrip())
        self.status = status
        self.code = code

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.code in _RETRIED_CODES


@dataclass(frozen=True)
class S3Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def xml(self) -> ElementTree.Element:
        root = ElementTree.fromstring(self.body)
        for node in root.iter():  # the 2006-03-01 namespace, dropped so lookups stay short
            node.tag = node.tag.rpartition("}")[2]
        return root


def _error_code(body: bytes) -> str:
    try:
        return S3Answer(0, {}, body).xml().findtext("Code") or ""
    except ElementTree.ParseError:
        return ""


class ConnectionPool:
    """Idle kept-alive connections to one endpoint; a connection serves one call at a time."""

    def __init__(self, endpoint_url: str, *, connect_timeout: float, read_timeout: float, keep: int) -> None:
        url = urlsplit(endpoint_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self.tls = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.tls else 80)
        self.host_header = url.netloc.rpartition("@")[2]
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._keep = keep
        self._idle: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def take(self, *, fresh: bool = False) -> tuple[HTTPConnection, bool]:
        """A connection and whether it was kept alive from an earlier call (the server may have
        closed it meanwhile); ``fresh`` opens a new one."""
        with self._lock:
            if self._idle and not fresh:
                return self._idle.pop(), True
        kind = HTTPSConnection if self.tls else HTTPConnection
        connection = kind(self.host, self.port, timeout=self._connect_timeout)
        connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(self._read_timeout)
        return connection, False

    def give_back(self, connection: HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class HttpS3ObjectStore:
    """ObjectStore over any S3-compatible endpoint, path-style, without botocore (see the module)."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        max_pool_connections: int = 32,
        payload_signing: bool | None = False,
        attempts: int = 3,
        connect_timeout: float = 5,
        read_timeout: float = 60,
    ) -> None:
        """``payload_signing``: True signs each body's SHA-256; False or None (the store's default
        here, where botocore's would sign over plain http) sends ``UNSIGNED-PAYLOAD`` for bodies."""
        self.bucket = bucket
        self._pool = ConnectionPool(
            endpoint_url, connect_timeout=connect_timeout, read_timeout=read_timeout, keep=max_pool_connections
        )
        self._signer = SigV4Signer(access_key=access_key, secret_key=secret_key, region=region)
        self._sign_bodies = bool(payload_signing)
        self._attempts = attempts

    # -- one request ------------------------------------------------------------------------------

    def _headers(self, method: str, path: str, query: str, body: Body, extra: dict[str, str]) -> dict[str, str]:
        headers = {"host": self._pool.host_header, **extra}
        if body or method in ("PUT", "POST"):
            headers["content-length"] = str(len(body) if not isinstance(body, memoryview) else body.nbytes)
        if not body:
            payload = EMPTY_SHA256
        elif self._sign_bodies or len(body) < 64 * 1024:  # small XML bodies are always signed: cheap
            payload = hashlib.sha256(body).hexdigest()
        else:
            payload = UNSIGNED_PAYLOAD
        self._signer.sign(method=method, path=path, query=query, headers=headers, payload_sha256=payload)
        return headers

    def _send_once(self, method: str, path: str, query: str, body: Body, headers: dict[str, str]) -> S3Answer:
        connection, kept = self._pool.take()
        try:
            return self._exchange(connection, method, path, query, body, headers)
        except (ConnectionError, HTTPException):
            if not kept:
                raise
        # A kept-alive connection the server had closed: that is no failure of the store, so it
        # costs no attempt; the request goes again at once on a new connection.
        connection, _ = self._pool.take(fresh=True)
        return self._exchange(connection, method, path, query, body, headers)

    def _exchange(
        self, connection: HTTPConnection, method: str, path: str, query: str, body: Body, headers: dict[str, str]
    ) -> S3Answer:
        try:
            connection.request(method, f"{path}?{query}" if query else path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._pool.give_back(connection)
        return S3Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def _send(self, method: str, path: str, query: str, body: Body, extra: dict[str, str]) -> S3Answer:
        """One request, retried on what a retry may cure; raises S3ErrorAnswer or the socket's error."""
        for attempt in range(1, self._attempts + 1):
            headers = self._headers(method, path, query, body, extra)  # a fresh date each attempt
            try:
                answer = self._send_once(method, path, query, body, headers)
            except (OSError, HTTPException):
                if attempt == self._attempts:
                    raise
            else:
                if answer.status < 300 or (method == "HEAD" and answer.status == 404):
                    return answer
                error = S3ErrorAnswer(answer.status, _error_code(answer.body))
                if not error.retryable or attempt == self._attempts:
                    raise error
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    async def _call(
        self,
        name: str,
        method: str,
        key: str | None = None,
        *,
        query: dict[str, str] | None = None,
        body: Body = b"",
        headers: dict[str, str] | None = None,
    ) -> S3Answer:
        path = "/" + uri_encode(self.bucket) + ("" if key is None else "/" + uri_encode(key, keep_slash=True))
        try:
            extra = {k.lower(): v for k, v in (headers or {}).items()}
            return await asyncio.to_thread(self._send, method, path, canonical_query(query or {}), body, extra)
        except (OSError, HTTPException, S3ErrorAnswer, ElementTree.ParseError) as exc:
            raise ObjectStoreUnavailable(f"object store {name} failed") from exc

    def close(self) -> None:
        """Close the idle connections (a call after this opens new ones)."""
        self._pool.close()

    # -- buckets and objects -----------------------------------------------------------------------

    async def ensure_bucket(self) -> None:
        if (await self._call("head_bucket", "HEAD")).status == 404:
            await self._call("create_bucket", "PUT")

    async def put_object(self, key: str, body: bytes | bytearray, content_type: str | None = None) -> None:
        await self._call("put_object", "PUT", key, body=body, headers=_content_type(content_type))

    async def get_object(self, key: str) -> bytes:
        return (await self._call("get_object", "GET", key)).body

    async def get_object_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` (inclusive) of an object, so large objects are read in bounded slices."""
        return (await self._call("get_object", "GET", key, headers={"range": f"bytes={start}-{end}"})).body

    async def head_object(self, key: str) -> dict[str, Any] | None:
        """The object's headers (lower-case names; ``ContentLength`` and ``ETag`` as boto3 names
        them), or None when there is no such object."""
        answer = await self._call("head_object", "HEAD", key)
        if answer.status == 404:
            return None
        return {
            **answer.headers,
            "ContentLength": int(answer.headers.get("content-length", "0")),
            "ETag": answer.headers.get("etag", ""),
        }

    async def delete_object(self, key: str) -> None:
        await self._call("delete_object", "DELETE", key)

    async def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        query = {"list-type": "2", "prefix": prefix}
        while True:
            page = (await self._call("list_objects_v2", "GET", query=query)).xml()
            keys += [item.findtext("Key") or "" for item in page.iter("Contents")]
            token = page.findtext("NextContinuationToken")
            if page.findtext("IsTruncated") != "true" or not token:
                return keys
            query = {**query, "continuation-token": token}

    # -- multipart uploads -------------------------------------------------------------------------

    async def create_multipart_upload(self, key: str, content_type: str | None = None) -> str:
        answer = await self._call(
            "create_multipart_upload", "POST", key, query={"uploads": ""}, headers=_content_type(content_type)
        )
        upload_id = answer.xml().findtext("UploadId")
        if not upload_id:
            raise ObjectStoreUnavailable("object store create_multipart_upload failed") from S3ErrorAnswer(
                answer.status, "NoUploadId"
            )
        return upload_id

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray) -> UploadedPart:
        """Store one part, sent from ``body`` as it is; the caller must not change it until this returns."""
        answer = await self._call(
            "upload_part", "PUT", key, query={"partNumber": str(number), "uploadId": upload_id}, body=body
        )
        return UploadedPart(number=number, etag=answer.headers.get("etag", ""), size=len(body))

    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        parts: list[UploadedPart] = []
        marker = "0"
        while True:
            query = {"uploadId": upload_id, "part-number-marker": marker}
            page = (await self._call("list_parts", "GET", key, query=query)).xml()
            parts += [
                UploadedPart(int(p.findtext("PartNumber") or 0), p.findtext("ETag") or "", int(p.findtext("Size") or 0))
                for p in page.iter("Part")
            ]
            marker = page.findtext("NextPartNumberMarker") or ""
            if page.findtext("IsTruncated") != "true" or not marker:
                return parts

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        body = "".join(_part_xml(part) for part in parts)
        document = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
        answer = await self._call(
            "complete_multipart_upload", "POST", key, query={"uploadId": upload_id}, body=document
        )
        # S3 may answer 200 and put the error in the body (it keeps the connection alive meanwhile).
        if b"<Error>" in answer.body:
            cause = S3ErrorAnswer(answer.status, _error_code(answer.body))
            raise ObjectStoreUnavailable("object store complete_multipart_upload failed") from cause

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        await self._call("abort_multipart_upload", "DELETE", key, query={"uploadId": upload_id})

    async def list_multipart_uploads(self, prefix: str = "") -> list[tuple[str, str]]:
        page = (await self._call("list_multipart_uploads", "GET", query={"uploads": "", "prefix": prefix})).xml()
        return list(_uploads(page))


def _content_type(content_type: str | None) -> dict[str, str]:
    return {"content-type": content_type} if content_type else {}


def _part_xml(part: UploadedPart) -> str:
    etag = part.etag.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    return f"<Part><PartNumber>{part.number}</PartNumber><ETag>{etag}</ETag></Part>"


def _uploads(page: ElementTree.Element) -> Iterator[tuple[str, str]]:
    for upload in page.iter("Upload"):
        yield upload.findtext("Key") or "", upload.findtext("UploadId") or ""
