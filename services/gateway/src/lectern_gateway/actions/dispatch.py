"""Running one action: the pipeline every door goes through.

unknown name -> NOT_FOUND; bearer token -> Identity (UNAUTHENTICATED); per-user rate limits
(RATE_LIMITED); JSON body -> the action's input model (400 malformed / VALIDATION_FAILED with
``fields``); Idempotency-Key on mutations (replay or CONFLICT); the action's service method; and
any DomainError rendered in the envelope. Nothing here knows HTTP frameworks: the transport hands
in bytes and headers and gets back a status, a JSON body and headers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from lectern_common.errors import HTTP_STATUS_BY_KIND, DomainError, ErrorKind
from lectern_common.identity import Identity
from lectern_common.rate_limits import Bucket, RateLimiter
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from lectern_gateway import errors
from lectern_gateway.actions.idempotency import Claim, IdempotencyCache, StoredAnswer
from lectern_gateway.actions.registry import Action, ActionContext, ActionRegistry, EncodedData
from lectern_gateway.actions.validation import field_errors
from lectern_gateway.actions.verified_tokens import RememberedTokens

log = logging.getLogger("lectern_gateway.actions")

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
# Answers a repeat may replay: success and the client's own mistakes. A failure that may go
# away (UNAVAILABLE, INTERNAL, RATE_LIMITED, UNAUTHENTICATED) frees the key for the retry.
_FINAL_KINDS = {
    ErrorKind.VALIDATION_FAILED,
    ErrorKind.FORBIDDEN,
    ErrorKind.NOT_FOUND,
    ErrorKind.CONFLICT,
    ErrorKind.HAS_DEPENDENCIES,
    ErrorKind.PAYLOAD_TOO_LARGE,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE,
    ErrorKind.QUOTA_EXCEEDED,
}


class Authenticator(Protocol):
    async def verify(self, token: str) -> Identity: ...


class TokenIssuer(Protocol):
    def issue(self, identity: Identity) -> str: ...


@dataclass
class ActionOutcome:
    """What the transport sends back.

    A success carries its ``data`` already encoded (``data_json``, by the data model's own
    serializer: one pass in pydantic-core instead of ``model_dump`` to a dict and ``json.dumps``
    of it); ``body`` is then ``{"success": true}`` and :meth:`full_body` decodes the data only
    when a whole dict is needed (an idempotent answer is stored).
    """

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None
    user_id: str | None = None
    peer_seconds: float = 0.0
    peer_calls: int = 0
    data_json: bytes | None = None

    @property
    def succeeded(self) -> bool:
        return self.body.get("success") is True

    def encoded(self) -> bytes:
        """The body as compact UTF-8 JSON."""
        if self.data_json is not None:
            return b'{"success":true,"data":' + self.data_json + b"}"
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()

    def full_body(self) -> dict[str, Any]:
        if self.data_json is not None:
            return {**self.body, "data": json.loads(self.data_json)}
        return self.body


def success(result: BaseModel | EncodedData) -> ActionOutcome:
    """200 with ``result`` as the answer's ``data`` (camelCase, JSON types)."""
    if isinstance(result, EncodedData):
        return ActionOutcome(200, {"success": True}, data_json=result.json)
    return ActionOutcome(
        200, {"success": True}, data_json=result.__pydantic_serializer__.to_json(result, by_alias=True)
    )


def error_body(error: DomainError) -> dict[str, Any]:
    """The envelope of a failure; an INTERNAL error never says more than that it happened."""
    if error.kind is ErrorKind.INTERNAL:
        return {"success": False, "error": {"code": "INTERNAL", "message": "internal error", "reason": "internal"}}
    body: dict[str, Any] = {"code": error.kind.value, "message": error.message, "reason": error.code}
    if error.fields:
        body["fields"] = error.fields
    if error.details:
        body["details"] = error.details
    return {"success": False, "error": body}


def error_failure(error: DomainError, status: int | None = None) -> ActionOutcome:
    outcome = ActionOutcome(status or HTTP_STATUS_BY_KIND[error.kind], error_body(error))
    if error.kind is ErrorKind.RATE_LIMITED and error.details:
        retry_after = float(error.details.get("retryAfterSeconds", 1))
        outcome.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return outcome


@dataclass(frozen=True)
class RateLimits:
    every_action: Bucket
    mutations: Bucket
    # Per client address, before the token is even verified: a flood of bad tokens (each a
    # signature check, an unknown kid a JWKS fetch) is cut before it costs anything.
    per_client: Bucket = field(default_factory=lambda: Bucket("client", 1200, 300))
    # The dev login (dev only): anyone who reaches it may ask, so per client address.
    dev_token: Bucket = field(default_factory=lambda: Bucket("dev-token", 60, 20))


def server_timing(total_seconds: float, peer_seconds: float, peer_calls: int) -> str:
    """Where an answer's time went, for browsers' devtools and the benchmark: all of it vs. in
    services (every action answer carries it, refusals before dispatch included)."""
    return f'total;dur={total_seconds * 1000:.2f}, peer;dur={peer_seconds * 1000:.2f};desc="{peer_calls}"'


class ActionDispatcher:
    def __init__(
        self,
        registry: ActionRegistry,
        *,
        authenticator: Authenticator,
        token_issuer: TokenIssuer,
        idempotency: IdempotencyCache,
        rate_limiter: RateLimiter | None,
        rate_limits: RateLimits,
    ) -> None:
        self.registry = registry
        # Every bearer token through RememberedTokens: a token verified a moment ago is not again.
        self._tokens = RememberedTokens(authenticator)
        self._token_issuer = token_issuer
        self._idempotency = idempotency
        self._rate_limiter = rate_limiter
        self._limits = rate_limits

    @property
    def rate_limits(self) -> RateLimits:
        return self._limits

    async def run(
        self,
        name: str,
        body: bytes,
        *,
        bearer: str | None,
        idempotency_key: str | None,
        client: str | None = None,
    ) -> ActionOutcome:
        """Run action ``name`` with a raw JSON body; never raises for an expected failure.

        ``client`` is the caller's address: its bucket is checked before authentication."""
        started = time.perf_counter()
        ctx: ActionContext | None = None
        try:
            action, identity = await self._admit(name, bearer, client)
            ctx = ActionContext(
                identity=identity,
                token_source=self._token_issuer.issue,
                action=name,
                idempotency_key=idempotency_key if action.mutation else None,
            )
            data = self._parse(action, body)
            if action.mutation and idempotency_key is not None:
                outcome = await self._run_idempotent(action, ctx, data, idempotency_key)
            else:
                outcome = await self._execute(action, ctx, data)
        except DomainError as exc:
            outcome = error_failure(exc, 400 if exc.code == "request.malformed" else None)
        except Exception:
            log.exception("action %s failed unexpectedly", name)
            outcome = error_failure(errors.internal())
        outcome.action = name
        if ctx is not None:
            outcome.user_id = ctx.identity.user_id
            outcome.peer_seconds = ctx.peer_seconds
            outcome.peer_calls = ctx.peer_calls
        total = time.perf_counter() - started
        outcome.headers["Server-Timing"] = server_timing(total, outcome.peer_seconds, outcome.peer_calls)
        return outcome

    async def _admit(self, name: str, bearer: str | None, client: str | None) -> tuple[Action, Identity]:
        """The action and who asks, once the client's and the user's buckets let it through.

        In order: the client's bucket, the action's name, the token, the user's buckets. A token
        verified a moment ago costs no verification (what the client's bucket guards against
        being flooded with), so then all the buckets are taken in one round trip, in that order."""
        action = self.registry.get(name)
        known = self._tokens.remembered(bearer) if action is not None and bearer else None
        if action is not None and known is not None:
            client_bucket = [(f"client:{client}", self._limits.per_client)] if client is not None else []
            await self._take(client_bucket + self._user_buckets(known, action))
            return action, known
        if client is not None:
            await self.check_client_rate(client, self._limits.per_client)
        if action is None:
            raise errors.unknown_action(name)
        identity = await self._authenticate(bearer)
        await self._take(self._user_buckets(identity, action))
        return action, identity

    async def _authenticate(self, bearer: str | None) -> Identity:
        if not bearer:
            raise errors.unauthenticated()
        return await self._tokens.verify(bearer)

    async def check_client_rate(self, client: str, bucket: Bucket) -> None:
        """RATE_LIMITED when ``client`` (an address) has spent ``bucket``."""
        await self._take([(f"client:{client}", bucket)])

    def _user_buckets(self, identity: Identity, action: Action) -> list[tuple[str, Bucket]]:
        subject = f"user:{identity.user_id}"
        buckets = [(subject, self._limits.every_action)]
        if action.mutation:
            buckets.append((subject, self._limits.mutations))
        return buckets

    async def _take(self, buckets: list[tuple[str, Bucket]]) -> None:
        if self._rate_limiter is None or not buckets:
            return
        try:
            decision = await self._rate_limiter.check_each(buckets)
        except (RedisError, OSError, TimeoutError) as exc:
            # Rate limits protect the services; losing Redis must not take every action down.
            log.warning("rate limiter unavailable, letting the request through: %r", exc)
            return
        if not decision.allowed:
            raise errors.rate_limited(decision.retry_after_seconds, decision.bucket)

    def _parse(self, action: Action, body: bytes) -> Any:
        raw = body if body.strip() else b"{}"
        try:
            return action.input_model.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            problems = exc.errors(include_url=False)
            for problem in problems:
                if problem["type"] == "json_invalid":
                    raise errors.malformed_body(f"the body is not valid JSON: {problem['msg']}") from None
                if not problem["loc"] and problem["type"] in {"model_type", "model_attributes_type", "dict_type"}:
                    raise errors.malformed_body("the body must be a JSON object") from None
            raise errors.invalid_input(field_errors(exc, action.union_tags)) from None

    async def _execute(self, action: Action, ctx: ActionContext, data: Any) -> ActionOutcome:
        try:
            result = await action.handler(ctx, data)
        except DomainError as exc:
            return error_failure(exc)
        return success(result)

    async def _run_idempotent(self, action: Action, ctx: ActionContext, data: Any, key: str) -> ActionOutcome:
        if not _IDEMPOTENCY_KEY.match(key):
            raise errors.invalid_idempotency_key()
        canonical = json.dumps(data.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
        fingerprint = hashlib.sha256(f"{action.name}\x00{canonical}".encode()).hexdigest()
        user_id = ctx.identity.user_id
        try:
            claimed = await self._idempotency.claim(user_id, key, fingerprint)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("idempotency store unavailable: %r", exc)
            raise DomainError(
                "idempotency.unavailable", "Idempotency-Key cannot be honoured right now", ErrorKind.UNAVAILABLE
            ) from exc
        if isinstance(claimed, StoredAnswer):
            return ActionOutcome(claimed.status, claimed.body, {"Idempotent-Replayed": "true"})
        # The client's key, scoped to this user, also keys the service's own dedupe.
        ctx.service_idempotency_key = hashlib.sha256(f"{user_id}\x00{key}".encode()).hexdigest()[:40]
        return await self._settle(claimed, await self._execute_guarded(action, ctx, data))

    async def _execute_guarded(self, action: Action, ctx: ActionContext, data: Any) -> ActionOutcome:
        try:
            return await self._execute(action, ctx, data)
        except Exception:
            log.exception("action %s failed unexpectedly", action.name)
            return error_failure(errors.internal())

    async def _settle(self, claim: Claim, outcome: ActionOutcome) -> ActionOutcome:
        code = outcome.body.get("error", {}).get("code") if not outcome.succeeded else None
        final = code is None or ErrorKind(code) in _FINAL_KINDS
        try:
            if final:
                await self._idempotency.complete(claim, outcome.status, outcome.full_body())
            else:
                await self._idempotency.release(claim)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("could not record the idempotent answer: %r", exc)
        return outcome
