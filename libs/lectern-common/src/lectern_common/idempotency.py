"""Idempotency keys for mutations, stored in the service's own database.

``begin`` runs first inside the mutation's transaction: it claims the key with an insert that
waits on a concurrent claim of the same key, so two racing requests with one key serialize and the
second answers the first's stored response. A key reused with a different request is a conflict.
The response is stored with ``complete`` in the same transaction, so a rolled-back mutation leaves
its key free.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_common.errors import DomainError, ErrorKind
from lectern_common.plumbing_tables import idempotency_keys


def fingerprint(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()


class IdempotencyStore:
    async def begin(self, session: AsyncSession, *, scope: str, key: str, request_fingerprint: str) -> bytes | None:
        """Claim ``key``; answers the stored response when the same request already ran."""
        claimed = await session.execute(
            insert(idempotency_keys)
            .values(scope=scope, key=key, fingerprint=request_fingerprint)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.key)
        )
        if claimed.first() is not None:
            return None
        row = (
            await session.execute(
                select(idempotency_keys.c.fingerprint, idempotency_keys.c.response).where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                )
            )
        ).one()
        if row.fingerprint != request_fingerprint:
            raise DomainError(
                "idempotency.key_reused",
                "this Idempotency-Key was already used with a different request",
                ErrorKind.CONFLICT,
            )
        return row.response or b""

    async def complete(self, session: AsyncSession, *, scope: str, key: str, response: bytes) -> None:
        await session.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
            .values(response=response)
        )
