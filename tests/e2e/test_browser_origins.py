"""Issue 12 item 7 on the launched stack: the launcher hands the gateway and upload the editor's
origins; a browser preflight from them is answered, one from any other origin gets no CORS headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lectern_common.settings import EDITOR_DEV_ORIGINS

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("origin", [EDITOR_DEV_ORIGINS[0], "https://evil.example"])
async def test_gateway_and_upload_answer_preflights_for_the_editor_only(lectern_stack: Any, origin: str) -> None:
    allowed = origin in EDITOR_DEV_ORIGINS
    async with httpx.AsyncClient(timeout=10) as http:
        gateway = await http.options(
            f"{lectern_stack.urls['gateway']}/actions/createCourse",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
            },
        )
        upload = await http.options(
            lectern_stack.urls["tus"],
            headers={"Origin": origin, "Access-Control-Request-Method": "PATCH", "Tus-Resumable": "1.0.0"},
        )
    for response in (gateway, upload):
        assert (response.headers.get("access-control-allow-origin") == origin) is allowed, response.headers
    if allowed:
        assert gateway.status_code == 200
        assert "idempotency-key" in gateway.headers["access-control-allow-headers"].lower()
