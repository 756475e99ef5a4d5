"""Write the gateway's OpenAPI document (the one it serves at ``/openapi.json`` in dev) to a file.

The gateway builds the document from its action registry; building the app needs no server (Redis
and gRPC clients connect lazily), so this runs anywhere the workspace is synced. The TypeScript
types in ``src/generated/openapi.ts`` are generated from the file this writes; the end-to-end test
``tests/e2e/test_web_client_types.py`` fails when the launched gateway serves something else.

    uv run python clients/web/packages/client/scripts/export_openapi.py [output]
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from lectern_gateway.bootstrap import GatewayApp
from lectern_gateway.settings import GatewaySettings

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "openapi.json"


def canonical(document: dict[str, Any]) -> str:
    """The committed form: sorted keys, two-space indent, trailing newline (stable diffs)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


async def gateway_document() -> dict[str, Any]:
    # Dev auth on, as under `make up`: the document then also names POST /auth/dev/token.
    async with GatewayApp(GatewaySettings(dev_auth=True), tracing=False) as gateway:
        return dict(gateway.app.openapi())


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    output.write_text(canonical(asyncio.run(gateway_document())))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
