"""Tokens for the tus data plane (HS256 JWTs signed with ``settings.upload_token_secret``).

Two kinds, told apart by the ``typ`` claim:

* **upload token** (``typ=upload``): names exactly one upload (``upl``) and its owner (``sub``),
  expires with the upload. CreateUpload answers it; it allows HEAD, PATCH and DELETE on that
  upload and nothing else.
* **creation token** (``typ=create``): names a user (``sub``), optionally one course (``crs``),
  has its own id (``jti``) and a short expiry. It allows ``POST /files/`` for that user; the
  uploads it creates remember its id, and the same token may then HEAD/PATCH/DELETE those uploads
  only (so a stock tus client, which sends one Authorization header for every request, works
  unchanged). Minted by :meth:`UploadTokens.issue_creation_token` by whoever holds the secret
  (this service's tests, or the gateway if it is given the secret).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from lectern_common import jwt_tokens

from lectern_upload import errors

ISSUER = "lectern-upload"
AUDIENCE = "lectern-upload-tus"
UPLOAD = "upload"
CREATE = "create"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class UploadGrant:
    """What a verified token allows."""

    kind: str
    owner_id: str
    upload_id: str | None = None
    token_id: str | None = None
    course_id: str | None = None


class UploadTokens:
    def __init__(self, secret: str, *, creation_ttl_seconds: int = 3600, leeway_seconds: int = 5) -> None:
        self._secret = secret
        self._creation_ttl = creation_ttl_seconds
        self._rules = jwt_tokens.ClaimRules(
            algorithms=(ALGORITHM,),
            issuer=ISSUER,
            audience=AUDIENCE,
            leeway_seconds=leeway_seconds,
            required=("exp", "sub", "iss", "aud", "typ"),
        )

    def issue_upload_token(self, *, upload_id: str, owner_id: str, expires_at: datetime) -> str:
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "typ": UPLOAD,
            "sub": owner_id,
            "upl": upload_id,
            "iat": int(time.time()),
            "exp": int(expires_at.timestamp()),
        }
        return jwt_tokens.sign(claims, self._secret, algorithm=ALGORITHM)

    def issue_creation_token(
        self, *, owner_id: str, course_id: str | None = None, ttl_seconds: int | None = None
    ) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "typ": CREATE,
            "sub": owner_id,
            "jti": secrets.token_hex(12),
            "iat": now,
            "exp": now + (ttl_seconds or self._creation_ttl),
        }
        if course_id:
            claims["crs"] = course_id
        return jwt_tokens.sign(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str | None) -> UploadGrant:
        """Any failure is the same UNAUTHENTICATED error: no hint about which check failed."""
        if not token:
            raise errors.unauthenticated("an upload token is required: Authorization: Bearer <uploadToken>")
        try:
            claims = jwt_tokens.verify(token, [self._secret], self._rules)
        except jwt_tokens.TokenRejected as exc:
            raise errors.unauthenticated() from exc
        kind = claims.get("typ")
        if kind == UPLOAD and claims.get("upl"):
            return UploadGrant(kind=UPLOAD, owner_id=str(claims["sub"]), upload_id=str(claims["upl"]))
        if kind == CREATE and claims.get("jti"):
            return UploadGrant(
                kind=CREATE, owner_id=str(claims["sub"]), token_id=str(claims["jti"]), course_id=claims.get("crs")
            )
        raise errors.unauthenticated()
