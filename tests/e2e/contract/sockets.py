"""A WebSocket client for the tests: every frame it receives lands in an inbox, read by predicate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

Message = dict[str, Any]


class Socket:
    """One realtime connection; ``await socket.wait_for(lambda m: ...)`` reads what arrived."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.inbox: list[Message] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, token: str | None) -> Socket:
        target = f"{url}?token={token}" if token is not None else url
        return cls(await websockets.connect(target, open_timeout=10))

    async def _read(self) -> None:
        try:
            async for frame in self.connection:
                async with self._arrived:
                    self.inbox.append(json.loads(frame))
                    self._arrived.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            async with self._arrived:
                self._arrived.notify_all()

    async def send(self, message: Message) -> None:
        await self.connection.send(json.dumps(message))

    async def wait_for(self, predicate: Callable[[Message], bool], what: str, timeout: float = 60.0) -> Message:
        """The first message (already arrived or arriving within ``timeout``) that matches."""
        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: any(predicate(m) for m in self.inbox) or self._reader.done()),
                    timeout,
                )
            except TimeoutError:
                raise AssertionError(f"no {what} within {timeout:.0f}s; inbox: {self.inbox[-10:]}") from None
        found = [m for m in self.inbox if predicate(m)]
        assert found, f"socket closed ({self.close_code}) before {what}; inbox: {self.inbox[-10:]}"
        return found[0]

    async def subscribe(self, channel: str, since: int | None = None) -> Message:
        """Subscribe and answer the server's reply: ``subscribed`` or ``error`` for that channel."""
        frame: Message = {"type": "subscribe", "channel": channel}
        if since is not None:
            frame["since"] = since

        def answered(m: Message) -> bool:
            return m.get("channel") == channel and m.get("type") in {"subscribed", "error"}

        count = sum(1 for m in self.inbox if answered(m))
        await self.send(frame)

        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(
                    lambda: sum(1 for m in self.inbox if answered(m)) > count or self._reader.done()
                ),
                30,
            )
        return [m for m in self.inbox if answered(m)][-1]

    async def closed(self, timeout: float = 30.0) -> tuple[int | None, str]:
        """Wait until the server closed the socket; its close code and reason."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code, self.connection.close_reason or ""

    @property
    def close_code(self) -> int | None:
        return self.connection.close_code

    async def close(self) -> None:
        await self.connection.close()
        await asyncio.gather(self._reader, return_exceptions=True)
