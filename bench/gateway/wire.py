"""A minimal HTTP/1.1 keep-alive client for the gateway bench: one connection, one request at a time.

The driver runs on the two cores it measures, so every millisecond it spends per action is taken
from the stack and counted in the machine's CPU per action. httpx cost the driver ~1.2-1.7 ms of
CPU per action (its request and response models, header handling, a pool even for one
connection); this writes the request bytes itself and parses the answer with httptools (the
parser uvicorn uses), about a fifth of that. It speaks only what the bench sends: POST with a
JSON body, answers with Content-Length or chunked.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import httptools


class BrokenAnswer(Exception):
    """No complete answer: ``kind`` is "timeout" or what broke the connection."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Answer:
    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _Parsed:
    """httptools' callbacks: the headers (lower-cased names) and body of one answer, and whether
    the connection stays open after it."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_headers_complete(self) -> None:
        # Asked here, not once the answer is complete: by then httptools (llhttp) has reset the
        # message's state and says False for every answer, which made the bench reconnect for
        # each action (a TCP handshake, an accept and a new protocol in the gateway every time).
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class KeepAliveClient:
    """``await client.post(path, json=..., headers=...)`` over one kept-alive connection."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        url = urlsplit(base_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._host_header = f"Host: {url.netloc}\r\n".encode()
        self._timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, *, json: Any = None, headers: dict[str, str] | None = None) -> Answer:
        body = b"" if json is None else _dumps(json)
        head = [f"POST {path} HTTP/1.1\r\n".encode(), self._host_header]
        head.append(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode())
        head.extend(f"{key}: {value}\r\n".encode() for key, value in (headers or {}).items())
        head.append(b"\r\n")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._exchange(b"".join(head) + body)
        except TimeoutError:
            await self.aclose()
            raise BrokenAnswer("timeout") from None
        except (OSError, EOFError, httptools.HttpParserError) as exc:
            await self.aclose()
            raise BrokenAnswer(type(exc).__name__) from exc

    async def _exchange(self, request: bytes) -> Answer:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(request)
        parsed = _Parsed()
        parser = parsed.parser = httptools.HttpResponseParser(parsed)
        while not parsed.complete:
            data = await self._reader.read(65536)
            if not data:
                raise EOFError("the connection closed mid-answer")
            parser.feed_data(data)
        if not parsed.keep_alive:
            await self.aclose()
        return Answer(parser.get_status_code(), parsed.headers, b"".join(parsed.body))

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
