"""Idempotency keys for the course's mutations (lectern_common.idempotency), typed by result.

A repeat with the same key and the same request answers the stored first result and changes
nothing; the same key with a different request is a CONFLICT. Keys are scoped per user and per
mutation, so two users can't collide on one key.
"""

from __future__ import annotations

from typing import TypeVar

from lectern_common.idempotency import IdempotencyStore, fingerprint
from lectern_common.identity import Identity
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T", bound=BaseModel)


class IdempotentResults:
    def __init__(self, store: IdempotencyStore) -> None:
        self._store = store

    @staticmethod
    def _scope(identity: Identity, mutation: str) -> str:
        return f"course.{mutation}:{identity.user_id}"

    async def replay(
        self,
        session: AsyncSession,
        *,
        identity: Identity,
        mutation: str,
        key: str,
        request: BaseModel,
        result_type: type[T],
    ) -> T | None:
        """The first result of this request when ``key`` already ran; None claims it for this run."""
        if not key:
            return None
        stored = await self._store.begin(
            session,
            scope=self._scope(identity, mutation),
            key=key,
            request_fingerprint=fingerprint(mutation, request.model_dump_json()),
        )
        if stored is None:
            return None
        return result_type.model_validate_json(stored)

    async def remember(self, session: AsyncSession, *, identity: Identity, mutation: str, key: str, result: T) -> T:
        if key:
            await self._store.complete(
                session, scope=self._scope(identity, mutation), key=key, response=result.model_dump_json().encode()
            )
        return result
