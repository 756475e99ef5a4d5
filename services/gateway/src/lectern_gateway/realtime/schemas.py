"""Realtime actions: the token a browser opens its WebSocket with."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from lectern_gateway.actions.schemas import DataModel, Identifier, InputModel


class RealtimeTokenInput(InputModel):
    course_ids: list[Identifier] | None = Field(
        default=None,
        max_length=200,
        description="Courses to watch (each checked); omitted: every course of the caller (first 200).",
    )


class RealtimeToken(DataModel):
    url: str = Field(description="The WebSocket URL; connect with `?token=<token>`.")
    token: str
    expires_at: datetime
    course_ids: list[str] = Field(description="The courses this token may subscribe to.")
