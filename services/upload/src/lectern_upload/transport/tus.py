"""The tus 1.0.0 data plane (ASGI, Starlette): translate HTTP to UploadService calls, nothing else.

Extensions: creation, creation-with-upload, creation-defer-length, checksum (sha1, sha256),
termination, expiration. Every error answers ``{"error": {"code", "kind", "message", ...}}`` with
the tus status for it (409 offset, 412 version, 415 content type, 460 checksum, 410 gone, 423
locked); the body of a refused request is never applied.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from lectern_common.errors import DomainError, ErrorKind
from lectern_common.rate_limits import Bucket, LocalRateLimiter
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lectern_upload import errors
from lectern_upload.settings import UploadSettings
from lectern_upload.tokens import UploadTokens
from lectern_upload.uploads.schemas import BodyInterrupted, NewUpload, UploadView
from lectern_upload.uploads.service import CHECKSUM_ALGORITHMS, UploadService

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,checksum,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# What a 503 (object store down, memory budget spent) asks clients to wait before retrying.
RETRY_AFTER_SECONDS = 2
ALLOWED_HEADERS = (
    "Authorization, Content-Type, Origin, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, "
    "Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Defer-Length, Upload-Concat, "
    "Upload-Checksum"
)
EXPOSED_HEADERS = (
    "Upload-Offset, Location, Upload-Length, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, "
    "Tus-Checksum-Algorithm, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Expires"
)


def _http_date(view: UploadView) -> str:
    return format_datetime(view.expires_at.astimezone(UTC), usegmt=True)


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
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        if len(key) > MAX_METADATA_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise errors.invalid(
                "upload.invalid_metadata",
                f"Upload-Metadata keys must be printable ASCII of at most {MAX_METADATA_KEY_LENGTH} characters",
                {"Upload-Metadata": "invalid key"},
            )
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
        result[key] = value
    return result


def _int_header(request: Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise errors.invalid(
            f"upload.invalid_{name.lower().replace('-', '_')}", f"{name} must be a non-negative integer"
        )
    return int(raw)


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    if value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


class TusApp:
    def __init__(
        self,
        service: UploadService,
        tokens: UploadTokens,
        settings: UploadSettings,
        readiness: Callable[[], Awaitable[list[str]]] | None = None,
    ) -> None:
        self._service = service
        self._tokens = tokens
        self._settings = settings
        self._readiness = readiness
        self._creations = LocalRateLimiter(
            Bucket("tus-create", settings.creations_per_minute, settings.creations_burst)
        )
        self.app = Starlette(
            routes=[
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/readyz", self.readyz, methods=["GET"]),
                Route("/files/", self.collection, methods=["OPTIONS", "POST"]),
                Route("/files", self.collection, methods=["OPTIONS", "POST"]),
                Route("/files/{upload_id}", self.resource, methods=["OPTIONS", "HEAD", "PATCH", "DELETE", "POST"]),
            ]
        )

    # -- common headers ----------------------------------------------------------------------

    def _headers(self, request: Request, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}
        headers["Vary"] = "Origin"
        if self._origin_allowed(request):
            headers["Access-Control-Allow-Origin"] = request.headers["origin"]
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if extra:
            headers.update(extra)
        return headers

    def _origin_allowed(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is not None and origin in self._settings.allowed_origins

    def _error(self, request: Request, error: DomainError) -> Response:
        status = errors.http_status(error)
        extra: dict[str, str] = {}
        if error.code == "upload.tus_version_unsupported":
            extra["Tus-Version"] = TUS_VERSION
        if error.details and "currentOffset" in error.details:
            extra["Upload-Offset"] = str(error.details["currentOffset"])
        if status == 401:
            extra["WWW-Authenticate"] = 'Bearer realm="lectern-upload"'
        if status == 503:
            extra["Retry-After"] = str(RETRY_AFTER_SECONDS)
        if error.kind is ErrorKind.RATE_LIMITED and error.details:
            extra["Retry-After"] = str(max(1, math.ceil(float(error.details["retryAfterSeconds"]))))
        body: dict[str, Any] = {"error": error.to_dict()}
        if request.method == "HEAD":
            return Response(status_code=status, headers=self._headers(request, extra))
        return JSONResponse(body, status_code=status, headers=self._headers(request, extra))

    def _method(self, request: Request) -> str:
        return request.headers.get("x-http-method-override", request.method).upper()

    def _check_version(self, request: Request) -> None:
        if request.headers.get("tus-resumable") != TUS_VERSION:
            raise DomainError(
                "upload.tus_version_unsupported",
                f"Tus-Resumable: {TUS_VERSION} is required",
                ErrorKind.VALIDATION_FAILED,
            )

    async def _body(self, request: Request) -> AsyncIterator[bytes]:
        """The request body; a client that goes away, sends nothing for
        ``body_idle_timeout_seconds``, or sends slower than ``min_patch_bytes_per_second`` over a
        ``min_rate_window_seconds`` window, ends it with BodyInterrupted (what it sent is kept).

        The waits cover only the wait for bytes, never the consumer's work between chunks, and a
        wait that ends without bytes never cancels the read (cancelling would close the stream):
        the same pending read is waited on again after the checks.
        """
        chunks = request.stream().__aiter__()
        settings = self._settings
        idle, floor, window = (
            settings.body_idle_timeout_seconds,
            settings.min_patch_bytes_per_second,
            settings.min_rate_window_seconds,
        )
        loop = asyncio.get_running_loop()
        last_bytes_at = window_start = loop.time()
        window_bytes = 0
        pending: asyncio.Future[bytes] | None = None
        try:
            while True:
                now = loop.time()
                if floor and now - window_start >= window:
                    if window_bytes < floor * (now - window_start):
                        log.info(
                            "PATCH body below %d bytes/s (%d bytes in %.0f s): ending it, keeping what arrived",
                            floor,
                            window_bytes,
                            now - window_start,
                        )
                        raise BodyInterrupted()
                    window_start, window_bytes = now, 0
                if now - last_bytes_at >= idle:
                    log.info("PATCH body idle for %.0f s: ending it and keeping what arrived", idle)
                    raise BodyInterrupted()
                wait = last_bytes_at + idle - now
                if floor:
                    wait = min(wait, window_start + window - now)
                if pending is None:
                    pending = asyncio.ensure_future(anext(chunks))
                done, _ = await asyncio.wait({pending}, timeout=max(wait, 0.001))
                if not done:
                    continue
                read, pending = pending, None
                try:
                    chunk = read.result()
                except StopAsyncIteration:
                    return
                except ClientDisconnect:
                    raise BodyInterrupted() from None
                if chunk:
                    last_bytes_at = loop.time()
                    window_bytes += len(chunk)
                    yield chunk
        finally:
            if pending is not None:
                pending.cancel()

    def _require_offset_stream(self, request: Request) -> None:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != OFFSET_CONTENT_TYPE:
            raise DomainError(
                "upload.bad_content_type",
                f"Content-Type must be {OFFSET_CONTENT_TYPE}",
                ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            )

    # -- endpoints ---------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        failures = await self._readiness() if self._readiness else []
        if failures:
            return JSONResponse({"status": "unavailable", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready"})

    def _options(self, request: Request) -> Response:
        headers = self._headers(
            request,
            {
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": EXTENSIONS,
                "Tus-Max-Size": str(self._settings.max_upload_bytes),
                "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
            },
        )
        if self._origin_allowed(request):
            headers["Access-Control-Allow-Methods"] = "POST, HEAD, PATCH, OPTIONS, DELETE"
            headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            headers["Access-Control-Max-Age"] = "86400"
        return Response(status_code=204, headers=headers)

    async def collection(self, request: Request) -> Response:
        method = self._method(request)
        if method == "OPTIONS":
            return self._options(request)
        try:
            self._check_version(request)
            return await self._create(request)
        except DomainError as exc:
            return self._error(request, exc)

    async def resource(self, request: Request) -> Response:
        method = self._method(request)
        upload_id = request.path_params["upload_id"]
        if method == "OPTIONS":
            return self._options(request)
        try:
            self._check_version(request)
            grant = self._tokens.verify(_bearer(request))
            if method == "HEAD":
                view = await self._service.head(grant, upload_id)
                return Response(status_code=200, headers=self._state_headers(request, view))
            if method == "PATCH":
                self._require_offset_stream(request)
                offset = _int_header(request, "Upload-Offset")
                if offset is None:
                    raise errors.invalid("upload.missing_offset", "Upload-Offset is required")
                checksum = self._service.parse_checksum(request.headers.get("upload-checksum"))
                view = await self._service.write(
                    grant,
                    upload_id,
                    offset=offset,
                    body=self._body(request),
                    checksum=checksum,
                    upload_length=_int_header(request, "Upload-Length"),
                )
                extra = {"Upload-Offset": str(view.offset)}
                if view.is_active:  # only unfinished uploads expire
                    extra["Upload-Expires"] = _http_date(view)
                return Response(status_code=204, headers=self._headers(request, extra))
            if method == "DELETE":
                await self._service.terminate(grant, upload_id)
                return Response(status_code=204, headers=self._headers(request))
            raise DomainError("upload.method_not_allowed", f"{method} is not allowed here", ErrorKind.VALIDATION_FAILED)
        except DomainError as exc:
            return self._error(request, exc)

    def _state_headers(self, request: Request, view: UploadView) -> dict[str, str]:
        extra = {"Upload-Offset": str(view.offset)}
        if view.size_bytes is None:
            extra["Upload-Defer-Length"] = "1"
        else:
            extra["Upload-Length"] = str(view.size_bytes)
        if view.tus_metadata:
            extra["Upload-Metadata"] = view.tus_metadata
        if view.is_active:  # only unfinished uploads expire
            extra["Upload-Expires"] = _http_date(view)
        return self._headers(request, extra)

    async def _create(self, request: Request) -> Response:
        grant = self._tokens.verify(_bearer(request))
        decision = self._creations.check(grant.owner_id)
        if not decision.allowed:
            raise errors.rate_limited(decision.retry_after_seconds)
        length = _int_header(request, "Upload-Length")
        deferred = request.headers.get("upload-defer-length")
        if length is None and deferred != "1":
            raise errors.invalid("upload.missing_length", "Upload-Length (or Upload-Defer-Length: 1) is required")
        if length is not None and deferred is not None:
            raise errors.invalid("upload.invalid_length", "send Upload-Length or Upload-Defer-Length, not both")
        raw_metadata = request.headers.get("upload-metadata")
        metadata = parse_metadata(raw_metadata)
        new = NewUpload(
            file_name=metadata.get("filename") or metadata.get("name") or metadata.get("fileName") or "",
            size_bytes=length,
            mime_type=metadata.get("filetype") or metadata.get("mimeType") or metadata.get("contentType") or "",
            course_id=metadata.get("courseId") or grant.course_id,
            chapter_id=metadata.get("chapterId"),
            lesson_title=metadata.get("lessonTitle"),
            tus_metadata=raw_metadata,
        )
        self._service.authorize_creation(grant, new)
        has_body = int(request.headers.get("content-length") or 0) > 0 or "chunked" in request.headers.get(
            "transfer-encoding", ""
        )
        if has_body:
            self._require_offset_stream(request)
        created = await self._service.create(grant.owner_id, new, creation_token_id=grant.token_id)
        view = created.upload
        location = f"{self._settings.upload_public_url}{view.id}"
        extra = {"Location": location, "Upload-Expires": _http_date(view)}
        if has_body:
            # creation-with-upload: the upload exists even if this body fails; report how far it got.
            try:
                view = await self._service.write(
                    grant,
                    view.id,
                    offset=0,
                    body=self._body(request),
                    checksum=self._service.parse_checksum(request.headers.get("upload-checksum")),
                )
            except DomainError as exc:
                log.info("creation-with-upload body refused for %s: %s", view.id, exc.code)
            extra["Upload-Offset"] = str(view.offset)
        return Response(status_code=201, headers=self._headers(request, extra))
