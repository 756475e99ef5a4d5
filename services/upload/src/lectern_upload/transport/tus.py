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
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from lectern_common.errors import DomainError, ErrorKind
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


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata: key base64,key2 base64`` (values may be absent)."""
    result: dict[str, str] = {}
    if not header:
        return result
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        try:
            result[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded else ""
        except (binascii.Error, UnicodeDecodeError):
            raise errors.invalid(
                "upload.invalid_metadata", f"Upload-Metadata value for {key!r} is not base64 UTF-8"
            ) from None
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
        origin = request.headers.get("origin")
        if origin:
            allowed = self._settings.cors_allow_origins
            if "*" in allowed or origin in allowed:
                headers["Access-Control-Allow-Origin"] = origin
                headers["Vary"] = "Origin"
                headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if extra:
            headers.update(extra)
        return headers

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
        """The request body; a client that goes away, or sends nothing for
        ``body_idle_timeout_seconds``, ends it with BodyInterrupted (what it sent is kept)."""
        chunks = request.stream().__aiter__()
        idle = self._settings.body_idle_timeout_seconds
        while True:
            try:
                # The timeout covers only the wait for bytes, never the consumer's work between
                # chunks (a timeout around the yield would cancel whatever the consumer awaits).
                async with asyncio.timeout(idle):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except ClientDisconnect:
                raise BodyInterrupted() from None
            except TimeoutError:
                log.info("PATCH body idle for %.0f s: ending it and keeping what arrived", idle)
                raise BodyInterrupted() from None
            if chunk:
                yield chunk

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
        if request.headers.get("origin"):
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
