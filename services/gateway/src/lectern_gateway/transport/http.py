"""The FastAPI app: HTTP in, the action dispatcher, HTTP out. It only translates.

``POST /actions/{name}`` hands the raw body and two headers to the dispatcher and writes its
outcome; ``/healthz`` and ``/readyz`` are the probes; ``/auth/dev/token`` exists only in dev
mode; ``/openapi.json`` is built from the action registry.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from lectern_common.errors import HTTP_STATUS_BY_KIND, DomainError, ErrorKind
from pydantic import Field, StringConstraints, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lectern_gateway import errors
from lectern_gateway.actions.dispatch import ActionDispatcher, error_body
from lectern_gateway.actions.schemas import DataModel, InputModel, UserId
from lectern_gateway.actions.validation import field_errors
from lectern_gateway.auth.dev import DevTokenSigner
from lectern_gateway.transport.actions_endpoint import (
    ACTION_ROUTE,
    ActionRequest,
    ActionsEndpoint,
    ASGIApp,
    answer,
    check_content_type,
    client_address,
    read_body,
)
from lectern_gateway.transport.openapi import build_openapi

log = logging.getLogger("lectern_gateway.http")

Readiness = Callable[[], Awaitable[dict[str, Any]]]

_ACTION_HEADERS = ("authorization", "content-type", "content-length", "idempotency-key", "x-forwarded-for")


class DevTokenInput(InputModel):
    user_id: UserId
    name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")] | None = None
    roles: list[Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")]] = Field(
        default_factory=list, max_length=20
    )


class DevToken(DataModel):
    token: str
    expires_at: datetime


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _error(error: DomainError, status: int | None = None) -> Response:
    headers = None
    if error.kind is ErrorKind.RATE_LIMITED and error.details:
        headers = {"Retry-After": str(max(1, math.ceil(float(error.details.get("retryAfterSeconds", 1)))))}
    return _json(status or HTTP_STATUS_BY_KIND[error.kind], error_body(error), headers)


def create_app(
    dispatcher: ActionDispatcher,
    *,
    readiness: Readiness,
    max_body_bytes: int,
    dev_signer: DevTokenSigner | None = None,
    docs: bool = False,
    forwarded_for_hops: int = 0,
    instrument: bool = True,
) -> FastAPI:
    app = FastAPI(
        title="Lectern gateway",
        # Swagger UI loads its script from a CDN and invites trying actions: dev only.
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    document = build_openapi(dispatcher.registry, dev_token=(DevTokenInput, DevToken) if dev_signer else None)
    app.openapi = lambda: document  # type: ignore[method-assign]
    _add_action_route(app, dispatcher, max_body_bytes=max_body_bytes, forwarded_for_hops=forwarded_for_hops)
    _add_probes(app, readiness)
    if dev_signer is not None:
        _add_dev_token_route(app, dispatcher, dev_signer, forwarded_for_hops=forwarded_for_hops)
    _add_error_handlers(app)
    if instrument:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz")
    return app


def _add_action_route(
    app: FastAPI, dispatcher: ActionDispatcher, *, max_body_bytes: int, forwarded_for_hops: int
) -> None:
    """``POST /actions/{name}`` inside FastAPI too (the served stack answers it in front, in
    :mod:`~lectern_gateway.transport.actions_endpoint`, with the same :func:`answer`)."""

    @app.post(ACTION_ROUTE, include_in_schema=False)
    async def run_action(name: str, request: Request) -> Response:
        headers = {key: request.headers[key] for key in _ACTION_HEADERS if key in request.headers}
        peer = request.client.host if request.client else None
        outcome = await answer(
            dispatcher,
            ActionRequest(name, headers, peer, request.stream()),
            max_body_bytes=max_body_bytes,
            forwarded_for_hops=forwarded_for_hops,
        )
        return Response(outcome.encoded(), outcome.status, outcome.headers, media_type="application/json")


def _add_probes(app: FastAPI, readiness: Readiness) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return _json(200, {"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        report = await readiness()
        return _json(200 if report["status"] == "ok" else 503, report)


def _add_dev_token_route(
    app: FastAPI, dispatcher: ActionDispatcher, dev_signer: DevTokenSigner, *, forwarded_for_hops: int
) -> None:
    """``POST /auth/dev/token`` (dev only): a token for any user id, limited per client address."""

    @app.post("/auth/dev/token", include_in_schema=False)
    async def dev_token(request: Request) -> Response:
        try:
            peer = request.client.host if request.client else None
            forwarded_for = request.headers.get("x-forwarded-for")
            await dispatcher.check_client_rate(
                client_address(peer, forwarded_for, forwarded_for_hops), dispatcher.rate_limits.dev_token
            )
            check_content_type(request.headers.get("content-type"))
            body = await read_body(request.stream(), request.headers.get("content-length"), 16 * 1024)
            data = DevTokenInput.model_validate_json(body or b"{}", strict=True)
        except DomainError as exc:
            return _error(exc)
        except ValidationError as exc:
            return _invalid_dev_token_input(exc)
        token, expires_at = dev_signer.issue(data.user_id, name=data.name, roles=data.roles)
        return _json(200, {"success": True, "data": DevToken(token=token, expires_at=expires_at).to_json_dict()})


def _invalid_dev_token_input(exc: ValidationError) -> Response:
    """Malformed JSON or a body that is not an object is a 400; field errors are VALIDATION_FAILED."""
    if any(p["type"] == "json_invalid" for p in exc.errors()):
        return _error(errors.malformed_body("the body is not valid JSON"), 400)
    if any(not p["loc"] for p in exc.errors()):
        return _error(errors.malformed_body("the body must be a JSON object"), 400)
    return _error(errors.invalid_input(field_errors(exc)))


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal FastAPI or Starlette makes itself, in the action envelope."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error(DomainError("route.not_found", "no such route", ErrorKind.NOT_FOUND))
        if exc.status_code == 405:
            return _error(DomainError("route.method", "method not allowed", ErrorKind.NOT_FOUND), 405)
        return _error(DomainError("http.error", str(exc.detail), ErrorKind.VALIDATION_FAILED), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> Response:
        return _error(errors.malformed_body("the request is malformed"), 400)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return _error(errors.internal())


def serving_app(
    app: FastAPI,
    dispatcher: ActionDispatcher,
    *,
    max_body_bytes: int,
    allowed_origins: tuple[str, ...] = (),
    forwarded_for_hops: int = 0,
    traced: bool = True,
) -> ASGIApp:
    """What the HTTP server serves: actions answered in front of ``app``, CORS around both."""
    served: ASGIApp = ActionsEndpoint(
        dispatcher, app, max_body_bytes=max_body_bytes, forwarded_for_hops=forwarded_for_hops, traced=traced
    )
    if allowed_origins:
        served = _with_cors(served, allowed_origins)
    return served


def _with_cors(served: ASGIApp, allowed_origins: tuple[str, ...]) -> ASGIApp:
    # Browsers preflight every action (JSON body, Authorization header): answer it for the
    # configured origins only; any other origin gets no CORS headers and its browser refuses.
    return CORSMiddleware(
        served,  # type: ignore[arg-type]
        allow_origins=list(allowed_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
        expose_headers=["Retry-After", "Idempotent-Replayed", "Server-Timing"],
        max_age=600,
    )  # type: ignore[return-value]
