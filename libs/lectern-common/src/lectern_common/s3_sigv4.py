"""AWS Signature Version 4 for S3 requests, with the standard library only (hmac, hashlib).

What :mod:`lectern_common.s3_http` signs: the method, the path-style URI, the query, the ``host``,
``x-amz-date`` and ``x-amz-content-sha256`` headers and any ``content-*`` or ``x-amz-*`` header the
request carries. The body is named by its SHA-256, or ``UNSIGNED-PAYLOAD`` (the request itself stays
signed; the body is then not covered by the signature, as boto3's ``payload_signing_enabled=False``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_ALGORITHM = "AWS4-HMAC-SHA256"


def uri_encode(text: str, *, keep_slash: bool = False) -> str:
    """SigV4's encoding: everything but ``A-Za-z0-9-_.~`` (and ``/`` in a path) percent-encoded."""
    return quote(text, safe="-_.~/" if keep_slash else "-_.~")


def canonical_query(query: Mapping[str, str]) -> str:
    """The query string, sorted by name and encoded as SigV4 wants; also what the request sends."""
    return "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in sorted(query.items()))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class SigV4Signer:
    """Signs requests for one access key, region and service; the day's signing key is cached."""

    def __init__(self, *, access_key: str, secret_key: str, region: str, service: str = "s3") -> None:
        self._access_key = access_key
        self._secret = secret_key
        self._region = region
        self._service = service
        self._day_key: tuple[str, bytes] = ("", b"")

    def _signing_key(self, day: str) -> bytes:
        if self._day_key[0] != day:
            key = _hmac(f"AWS4{self._secret}".encode(), day)
            for part in (self._region, self._service, "aws4_request"):
                key = _hmac(key, part)
            self._day_key = (day, key)
        return self._day_key[1]

    def sign(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        payload_sha256: str,
        now: datetime | None = None,
    ) -> None:
        """Add ``x-amz-date``, ``x-amz-content-sha256`` and ``Authorization`` to ``headers`` (whose
        names are lower case and include ``host``). ``path`` is already URI-encoded."""
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        headers["x-amz-date"] = stamp
        headers["x-amz-content-sha256"] = payload_sha256
        signed = sorted(
            name for name in headers if name == "host" or name.startswith(("x-amz-", "content-md5", "content-type"))
        )
        canonical = "\n".join(
            [
                method,
                path,
                query,
                "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed),
                ";".join(signed),
                payload_sha256,
            ]
        )
        scope = f"{stamp[:8]}/{self._region}/{self._service}/aws4_request"
        to_sign = f"{_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(stamp[:8]), to_sign.encode(), hashlib.sha256).hexdigest()
        credential = f"{self._access_key}/{scope}"
        headers["authorization"] = (
            f"{_ALGORITHM} Credential={credential}, SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
