"""What an action is, the context it runs in, and the registry of every action by name."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lectern_common.identity import Identity
from pydantic import BaseModel


@dataclass
class ActionContext:
    """One action call: who asks, with which internal token, and what the services cost.

    ``service_idempotency_key`` goes to the service on writes: the client's Idempotency-Key when
    it sent one, else a fresh key per call, so a retry of the write after UNAVAILABLE is safe.
    """

    identity: Identity
    token_source: Callable[[Identity], str]
    action: str
    idempotency_key: str | None = None
    service_idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    peer_seconds: float = 0.0
    peer_calls: int = 0
    _token: str | None = None

    @property
    def internal_token(self) -> str:
        if self._token is None:
            self._token = self.token_source(self.identity)
        return self._token

    def record_peer_time(self, started: float) -> None:
        self.peer_seconds += time.perf_counter() - started
        self.peer_calls += 1


@dataclass(frozen=True)
class EncodedData:
    """An action's ``data`` already encoded as JSON (exactly what its data model would encode):
    an answer remembered by its service (the course edit's JSON) skips building the models."""

    json: bytes


Handler = Callable[[ActionContext, Any], Awaitable[BaseModel | EncodedData]]


@dataclass(frozen=True)
class Action:
    """A server action: its name, input and ``data`` models, and the service method that runs it."""

    name: str
    input_model: type[BaseModel]
    data_model: type[BaseModel]
    handler: Handler
    mutation: bool
    summary: str
    tag: str
    union_tags: frozenset[str] = frozenset()


class ActionRegistry:
    """Every action by name; the order of registration is the order of the OpenAPI document."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.add(action)

    def add(self, action: Action) -> None:
        if action.name in self._actions:
            raise ValueError(f"action {action.name} registered twice")
        self._actions[action.name] = action

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def __iter__(self) -> Iterator[Action]:
        return iter(self._actions.values())

    def names(self) -> list[str]:
        return list(self._actions)
