"""A frontend's view of the stack: the gateway's actions, dev login and a stock tus client."""

from __future__ import annotations

import io
from typing import Any

import httpx
from tusclient import client as tus


class ActionClient:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.token = token
        self.user_id: str | None = None

    @classmethod
    async def login(cls, base_url: str, user_id: str) -> ActionClient:
        client = cls(base_url)
        response = await client.http.post("/auth/dev/token", json={"userId": user_id})
        assert response.status_code == 200, response.text
        client.token = response.json()["data"]["token"]
        client.user_id = user_id
        return client

    async def raw(self, name: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        all_headers = dict(headers or {})
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        return await self.http.post(f"/actions/{name}", json=body, headers=all_headers)

    async def ok(self, name: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        response = await self.raw(name, body, headers)
        envelope = response.json()
        assert envelope["success"] is True, f"{name}: {response.status_code} {envelope}"
        return envelope["data"]

    async def fails(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.raw(name, body)
        envelope = response.json()
        assert envelope["success"] is False, f"{name} unexpectedly succeeded: {envelope}"
        return dict(envelope["error"])

    async def close(self) -> None:
        await self.http.aclose()


def tus_upload(upload_url: str, token: str, payload: bytes, chunk_size: int = 256 * 1024) -> None:
    """Send ``payload`` with tuspy, a stock tus 1.0 client (blocking: run it in a thread)."""
    uploader = tus.TusClient(upload_url, headers={"Authorization": f"Bearer {token}"}).uploader(
        file_stream=io.BytesIO(payload), url=upload_url, chunk_size=chunk_size, retries=2, retry_delay=1
    )
    uploader.upload()
