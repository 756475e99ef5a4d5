"""The web client's types are generated from what the launched gateway really serves.

``clients/web/packages/client/openapi.json`` is the gateway's ``/openapi.json`` as committed; the
TypeScript types are generated from it (the SDK's Vitest suite checks that step). This test closes
the loop: when an action's input or data changes and nobody ran ``make web-generate``, it fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

COMMITTED = Path(__file__).resolve().parents[2] / "clients" / "web" / "packages" / "client" / "openapi.json"


async def test_committed_openapi_matches_the_launched_gateway(lectern_stack: Any) -> None:
    async with httpx.AsyncClient(base_url=lectern_stack.urls["gateway"], timeout=30) as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    served = response.json()
    committed = json.loads(COMMITTED.read_text())
    stale = sorted(set(served["paths"]) ^ set(committed["paths"]))
    assert not stale, f"actions added or removed since the types were generated: {stale}; run `make web-generate`"
    changed = sorted(
        name
        for name in set(served["components"]["schemas"]) | set(committed["components"]["schemas"])
        if served["components"]["schemas"].get(name) != committed["components"]["schemas"].get(name)
    )
    assert not changed, f"schemas changed since the types were generated: {changed}; run `make web-generate`"
    assert served == committed, "the gateway's OpenAPI document changed; run `make web-generate`"
