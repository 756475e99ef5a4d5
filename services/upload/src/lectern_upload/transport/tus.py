"""The tus 1.0.0 data plane (ASGI, Starlette): translate HTTP to UploadService calls, nothing else.

Extensions: creation, creation-with-upload, creation-defer-length, checksum (sha1, sha256),
termination, expiration. Every error answers ``{"error": {"code", "kind", "message", ...}}`` with
the tus status for it (409 offset, 412 version, 415 content type, 460 checksum, 410 gone, 423
locked); the body of a refused request is never applied.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from lectern_common.errors import DomainError, ErrorKind
from lectern_common.rate_limits import Bucket, LocalRateLimiter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lectern_upload import errors
from lectern_upload.access.tokens import UploadGrant, UploadTokens
from lectern_upload.settings import UploadSettings
from lectern_upload.transport.tus_body import request_body
from lectern_upload.transport.tus_headers import bearer, has_body, int_header, new_upload, parse_checksum
from lectern_upload.uploads.schemas import UploadView
from lectern_upload.uploads.service import UploadService
from lectern_upload.writing.checksum import CHECKSUM_ALGORITHMS
from lectern_upload.writing.service import WriteService

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


class TusApp:
    def __init__(
        self,
        uploads: UploadService,
        writes: WriteService,
        tokens: UploadTokens,
        settings: UploadSettings,
        readiness: Callable[[], Awaitable[list[str]]] | None = None,
    ) -> None:
        self._uploads = uploads
        self._writes = writes
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
            grant = self._tokens.verify(bearer(request.headers))
            if method == "HEAD":
                view = await self._uploads.head(grant, upload_id)
                return Response(status_code=200, headers=self._state_headers(request, view))
            if method == "PATCH":
                return await self._patch(request, grant, upload_id)
            if method == "DELETE":
                await self._uploads.terminate(grant, upload_id)
                return Response(status_code=204, headers=self._headers(request))
            raise DomainError("upload.method_not_allowed", f"{method} is not allowed here", ErrorKind.VALIDATION_FAILED)
        except DomainError as exc:
            return self._error(request, exc)

    async def _patch(self, request: Request, grant: UploadGrant, upload_id: str) -> Response:
        self._require_offset_stream(request)
        offset = int_header(request.headers, "Upload-Offset")
        if offset is None:
            raise errors.invalid("upload.missing_offset", "Upload-Offset is required")
        checksum = parse_checksum(request.headers.get("upload-checksum"))
        view = await self._writes.write(
            grant,
            upload_id,
            offset=offset,
            body=request_body(request, self._settings),
            checksum=checksum,
            upload_length=int_header(request.headers, "Upload-Length"),
        )
        extra = {"Upload-Offset": str(view.offset)}
        if view.is_active:  # only unfinished uploads expire
            extra["Upload-Expires"] = _http_date(view)
        return Response(status_code=204, headers=self._headers(request, extra))

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
        grant = self._tokens.verify(bearer(request.headers))
        decision = self._creations.check(grant.owner_id)
        if not decision.allowed:
            raise errors.rate_limited(decision.retry_after_seconds)
        new = self._uploads.authorize_creation(grant, new_upload(request.headers))
        with_body = has_body(request.headers)
        if with_body:
            self._require_offset_stream(request)
        created = await self._uploads.create(grant.owner_id, new, creation_token_id=grant.token_id)
        view = created.upload
        location = f"{self._settings.upload_public_url}{view.id}"
        extra = {"Location": location, "Upload-Expires": _http_date(view)}
        if with_body:
            # creation-with-upload: the upload exists even if this body fails; report how far it got.
            try:
                view = await self._writes.write(
                    grant,
                    view.id,
                    offset=0,
                    body=request_body(request, self._settings),
                    checksum=parse_checksum(request.headers.get("upload-checksum")),
                )
            except DomainError as exc:
                log.info("creation-with-upload body refused for %s: %s", view.id, exc.code)
            extra["Upload-Offset"] = str(view.offset)
        return Response(status_code=201, headers=self._headers(request, extra))
