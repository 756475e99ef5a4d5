"""Channels and messages: names, the types a publisher may send, and their wire form (API.md §2).

A message is validated once, when it is published, and serialized once; every socket on every
replica then gets the same text. The server owns ``channel`` and ``seq``: a publisher names the
channel beside the message and realtime stamps both into it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from lectern_common.identity import is_usable_user_id

from lectern_realtime import errors

ChannelKind = Literal["user", "course"]
_KINDS: frozenset[str] = frozenset({"user", "course"})

_TOP_LEVEL_KEYS = frozenset({"type", "channel", "courseId", "operationId", "data"})


@dataclass(frozen=True)
class Channel:
    kind: ChannelKind
    id: str

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, value: object) -> Channel:
        """``user:<id>`` or ``course:<id>``; anything else is a validation error.

        The id is everything after the first ``:`` and may hold any character an OIDC subject
        holds (``user:auth0|123``, ``user:urn:idp:7``, ``user:a@b.example``), so the channel name
        is the user id as clients know it; only control characters and over-long ids are refused
        (the same rule the gateway applies to the subjects it accepts).
        """
        kind, separator, channel_id = value.partition(":") if isinstance(value, str) else ("", "", "")
        if not separator or kind not in _KINDS or not is_usable_user_id(channel_id):
            raise errors.invalid_channel(value)
        return cls(kind=kind, id=channel_id)  # type: ignore[arg-type]

    @classmethod
    def user(cls, user_id: str) -> Channel:
        return cls.parse(f"user:{user_id}")

    @classmethod
    def course(cls, course_id: str) -> Channel:
        return cls.parse(f"course:{course_id}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _require_str(data: dict[str, Any], key: str, path: str) -> None:
    if not isinstance(data.get(key), str) or not data[key]:
        raise errors.invalid_message(f"{path} must be a non-empty string", path)


# What each publishable type requires beyond the envelope: (message, its data) -> None or raises.


def _progress(message: dict[str, Any], data: dict[str, Any]) -> None:
    _require_str(message, "operationId", "operationId")
    progress = data.get("progress")
    if isinstance(progress, bool) or not isinstance(progress, int | float) or not 0 <= progress <= 100:
        raise errors.invalid_message("data.progress must be a number from 0 to 100", "data.progress")


def _media_id(message: dict[str, Any], data: dict[str, Any]) -> None:
    _require_str(data, "mediaId", "data.mediaId")


def _error(message: dict[str, Any], data: dict[str, Any]) -> None:
    _require_str(data, "error", "data.error")


def _media_failure(message: dict[str, Any], data: dict[str, Any]) -> None:
    _require_str(data, "mediaId", "data.mediaId")
    _require_str(data, "error", "data.error")


def _resources(message: dict[str, Any], data: dict[str, Any]) -> None:
    resources = data.get("resources")
    if not isinstance(resources, list) or not resources or not all(isinstance(r, str) and r for r in resources):
        raise errors.invalid_message("data.resources must be a non-empty list of names", "data.resources")


_DATA_RULES: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "upload-progress": _progress,
    "upload-complete": _media_id,
    "upload-failed": _error,
    "invalidate": _resources,
    "media-ready": _media_id,
    "media-failed": _media_failure,
}
PUBLISHABLE_TYPES = frozenset(_DATA_RULES)


def _check_envelope(channel: Channel, message: dict[str, Any]) -> None:
    """The keys beside ``data``: none unknown, ``channel``/``courseId`` agreeing with the channel."""
    unknown = set(message) - _TOP_LEVEL_KEYS
    if unknown:
        raise errors.invalid_message(f"unknown keys {sorted(unknown)}; put extra fields in data", "message")
    if "channel" in message and message["channel"] != channel.name:
        raise errors.invalid_message("message.channel, when given, must equal channel", "channel")
    for key in ("courseId", "operationId"):
        value = message.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise errors.invalid_message(f"message.{key} must be a non-empty string", key)
    if channel.kind == "course" and message.get("courseId") not in (None, channel.id):
        raise errors.invalid_message("message.courseId must match the course channel", "courseId")


def validate_message(channel: Channel, message: object, *, max_bytes: int) -> str:
    """Check a publisher's message and answer its wire body without ``seq`` (a JSON object text).

    Raises a validation error naming the offending field, or ``message_too_large``.
    """
    if not isinstance(message, dict):
        raise errors.invalid_message("message must be a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in _DATA_RULES:
        raise errors.invalid_message(f"message.type must be one of {', '.join(sorted(PUBLISHABLE_TYPES))}", "type")
    _check_envelope(channel, message)
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise errors.invalid_message("message.data must be a JSON object", "data")
    _DATA_RULES[kind](message, data)
    return _wire_body(channel, kind, message, data, max_bytes)


def _wire_body(channel: Channel, kind: str, message: dict[str, Any], data: dict[str, Any], max_bytes: int) -> str:
    body: dict[str, Any] = {"type": kind, "channel": channel.name}
    for key in ("courseId", "operationId"):
        if message.get(key) is not None:
            body[key] = message[key]
    body["data"] = data
    try:
        text = _dumps(body)
    except (TypeError, ValueError) as exc:
        raise errors.invalid_message(f"message is not plain JSON: {exc}") from exc
    size = len(text.encode())
    if size > max_bytes:
        raise errors.message_too_large(size, max_bytes)
    return text


# Messages the server itself sends on a socket (never published, never in history).


def subscribed_message(channel: str, seq: int, *, recovered: bool, replayed: int, since: int | None) -> str:
    body: dict[str, Any] = {"type": "subscribed", "channel": channel, "seq": seq, "recovered": recovered}
    if since is not None:
        body["since"] = since
        body["replayed"] = replayed
    return _dumps(body)


def error_message(code: str, message: str, **extra: Any) -> str:
    return _dumps({"type": "error", "code": code, "message": message, **extra})


def pong_message() -> str:
    return '{"type":"pong"}'


def unsubscribed_message(channel: str) -> str:
    return _dumps({"type": "unsubscribed", "channel": channel})
