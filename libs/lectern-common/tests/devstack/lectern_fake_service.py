"""A stand-in service for the launcher's tests: migrates a table, listens on its two ports.

``python -m lectern_fake_service migrate|serve``, configured like a real service through
``LECTERN_FAKE_*`` variables. Its HTTP port answers every request with its pid and the settings it
was given, so a test can tell a restarted process from the old one and check the environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="fake",
    module="lectern_fake_service",
    grpc_port=59_991,
    http_port=59_992,
    database="fake",
    topics=("lectern.fake.v1",),
    urls={"fake": "http://127.0.0.1:{http_port}/"},
    # What a new service declares instead of editing the launcher: how others reach it, the
    # secrets it holds, settings of its own.
    offers={"fake_public_url": "http://127.0.0.1:{http_port}/fake"},
    secrets=frozenset({"upload_token_secret"}),
    settings={"greeting": "hello"},
    setting_defaults={"mood": "calm"},
)

PREFIX = SPEC.env_prefix


async def migrate() -> None:
    import asyncpg

    url = os.environ[f"{PREFIX}DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS migrated (id int PRIMARY KEY)")
    finally:
        await conn.close()
    print("fake: migrated", flush=True)


async def serve() -> None:
    settings = {k: v for k, v in os.environ.items() if k.startswith("LECTERN_")}
    body = json.dumps({"pid": os.getpid(), "env": settings}).encode()

    async def answer_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    async def hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    http = await asyncio.start_server(answer_http, "127.0.0.1", int(os.environ[f"{PREFIX}HTTP_PORT"]))
    grpc = await asyncio.start_server(hold_open, "127.0.0.1", int(os.environ[f"{PREFIX}GRPC_PORT"]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"fake: serving as pid {os.getpid()}", flush=True)
    async with http, grpc:
        await stop.wait()
    print("fake: stopped", flush=True)


if __name__ == "__main__":
    command = sys.argv[1]
    asyncio.run({"migrate": migrate, "serve": serve}[command]())
