"""Idempotency keys for mutations, stored in the service's own database.

``begin`` runs first inside the mutation's transaction: it claims the key with an insert that
waits on a concurrent claim of the same key, so two racing requests with one key serialize and the
second answers the first's stored response. A key reused with a different request is a conflict.
The response is stored with ``complete`` in the same transaction, so a rolled-back mutation leaves
its key free.

Both are one fixed statement text (prepared once per connection, never built per call), and the
claim is one round trip: the insert and the read of an existing key are one statement. Its read
sees the statement's snapshot, taken before the insert waited, so when the insert waited on a
concurrent claim that then committed, the statement answers no row and a second read (a new
snapshot) fetches the stored answer: the rare path pays the round trip the common one saves.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_common.errors import DomainError, ErrorKind

# One row: (true, NULL, NULL) when this call claimed the key, (false, fingerprint, response) when
# the key was already taken in the snapshot; no row when the insert waited on a concurrent claim.
_CLAIM = text(
    """
WITH claimed AS (
    INSERT INTO idempotency_keys (scope, key, fingerprint)
    VALUES (:scope, :key, :fingerprint)
    ON CONFLICT DO NOTHING
    RETURNING true AS claimed
)
SELECT claimed, CAST(NULL AS varchar) AS fingerprint, CAST(NULL AS bytea) AS response FROM claimed
UNION ALL
SELECT false, fingerprint, response FROM idempotency_keys WHERE scope = :scope AND key = :key
"""
)

_STORED = text("SELECT fingerprint, response FROM idempotency_keys WHERE scope = :scope AND key = :key")

_COMPLETE = text("UPDATE idempotency_keys SET response = :response WHERE scope = :scope AND key = :key")


def fingerprint(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()


class IdempotencyStore:
    async def begin(self, session: AsyncSession, *, scope: str, key: str, request_fingerprint: str) -> bytes | None:
        """Claim ``key``; answers the stored response when the same request already ran."""
        where = {"scope": scope, "key": key}
        row = (await session.execute(_CLAIM, {**where, "fingerprint": request_fingerprint})).first()
        if row is None:
            row = (await session.execute(_STORED, where)).one()
        elif row.claimed:
            return None
        if row.fingerprint != request_fingerprint:
            raise DomainError(
                "idempotency.key_reused",
                "this Idempotency-Key was already used with a different request",
                ErrorKind.CONFLICT,
            )
        return bytes(row.response or b"")

    async def complete(self, session: AsyncSession, *, scope: str, key: str, response: bytes) -> None:
        await session.execute(_COMPLETE, {"scope": scope, "key": key, "response": response})
