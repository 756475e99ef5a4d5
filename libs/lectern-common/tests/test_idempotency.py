"""The idempotency store: a retry answers the stored result, a reused key with another request is
a conflict, a rolled-back claim frees the key, and a concurrent duplicate waits for the first."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lectern_common.db import UnitOfWork
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.idempotency import IdempotencyStore
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

STORE = IdempotencyStore()
KEY = {"scope": "course.save:u1", "key": "k1"}


async def _run_once(uow: UnitOfWork, fingerprint: str, response: bytes) -> bytes | None:
    async with uow() as session:
        stored = await STORE.begin(session, **KEY, request_fingerprint=fingerprint)
        if stored is None:
            await STORE.complete(session, **KEY, response=response)
        return stored


async def test_a_retry_answers_the_stored_response_in_one_statement(engine: AsyncEngine) -> None:
    uow = UnitOfWork(engine)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    assert await _run_once(uow, "f1", b"first answer") is None
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await _run_once(uow, "f1", b"second answer") == b"first answer"
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len(statements) == 1


async def test_a_claim_is_one_statement_and_the_result_another(engine: AsyncEngine) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await _run_once(UnitOfWork(engine), "f1", b"answer") is None
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len(statements) == 2
    assert "INSERT INTO idempotency_keys" in statements[0]
    assert statements[1].startswith("UPDATE idempotency_keys")


async def test_the_same_key_with_another_request_is_a_conflict(engine: AsyncEngine) -> None:
    uow = UnitOfWork(engine)
    assert await _run_once(uow, "f1", b"answer") is None
    with pytest.raises(DomainError) as raised:
        await _run_once(uow, "f2", b"other")
    assert raised.value.kind is ErrorKind.CONFLICT
    assert raised.value.code == "idempotency.key_reused"


async def test_a_rolled_back_claim_leaves_the_key_free(engine: AsyncEngine) -> None:
    uow = UnitOfWork(engine)
    with pytest.raises(RuntimeError):
        async with uow() as session:
            assert await STORE.begin(session, **KEY, request_fingerprint="f1") is None
            raise RuntimeError("the mutation fails")
    assert await _run_once(uow, "f2", b"answer") is None
    assert await _run_once(uow, "f2", b"again") == b"answer"


async def test_a_claim_without_a_stored_response_answers_empty(engine: AsyncEngine) -> None:
    uow = UnitOfWork(engine)
    async with uow() as session:
        assert await STORE.begin(session, **KEY, request_fingerprint="f1") is None
    async with uow() as session:
        assert await STORE.begin(session, **KEY, request_fingerprint="f1") == b""


async def _concurrent_duplicate(
    engine: AsyncEngine, *, first_commits: bool, statements: list[str] | None = None
) -> bytes | None:
    """A first request holds its claim open while a duplicate arrives; answers the duplicate's
    (and records the statements sent once the first has claimed: the duplicate's)."""
    uow = UnitOfWork(engine)
    first_claimed = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with uow() as session:
            assert await STORE.begin(session, **KEY, request_fingerprint="f1") is None
            await STORE.complete(session, **KEY, response=b"first answer")
            first_claimed.set()
            await release_first.wait()
            if not first_commits:
                raise RuntimeError("the first request fails")

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statements is not None:
            statements.append(statement)

    first_task = asyncio.create_task(first())
    await first_claimed.wait()
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    duplicate = asyncio.create_task(_run_once(uow, "f1", b"duplicate answer"))
    await asyncio.sleep(0.3)
    assert not duplicate.done(), "the duplicate must wait on the first claim"
    release_first.set()
    if first_commits:
        await first_task
    else:
        with pytest.raises(RuntimeError):
            await first_task
    try:
        return await asyncio.wait_for(duplicate, timeout=10)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_concurrent_duplicate_waits_and_answers_the_first_result(engine: AsyncEngine) -> None:
    statements: list[str] = []
    assert await _concurrent_duplicate(engine, first_commits=True, statements=statements) == b"first answer"
    # The claim's own read saw the snapshot from before it waited; the stored answer came from a
    # second read, the one path where a claim costs two round trips.
    assert len(statements) == 2
    assert statements[1].startswith("SELECT fingerprint, response FROM idempotency_keys")


async def test_a_concurrent_duplicate_claims_the_key_when_the_first_rolls_back(engine: AsyncEngine) -> None:
    assert await _concurrent_duplicate(engine, first_commits=False) is None
    assert await _run_once(UnitOfWork(engine), "f1", b"later") == b"duplicate answer"
