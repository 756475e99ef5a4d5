"""What an action's service needs from a peer service: a read and a write, by RPC name.

The gRPC implementation is in :mod:`lectern_gateway.transport.grpc_peers`; services see only
this Protocol, so they never import grpc (STYLE rule 1).
"""

from __future__ import annotations

from typing import Any, Protocol

from lectern_gateway.actions.registry import ActionContext


class Peer(Protocol):
    name: str

    async def read(self, method: str, request: Any, ctx: ActionContext) -> Any:
        """A read: retried while the peer is briefly unavailable."""
        ...

    async def write(self, method: str, request: Any, ctx: ActionContext, *, retry_safe: bool) -> Any:
        """A write: retried only when ``retry_safe`` (it carries an idempotency key)."""
        ...
