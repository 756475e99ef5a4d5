"""Pydantic validation errors as the API's ``fields``: messages keyed by input path.

A path is the camelCase location joined by dots, list indexes included: ``operations.2.title``.
Tagged unions (the save operations) put the tag into pydantic's location
(``operations.2.addChapter.title``); the client never typed that tag as a key, so it is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
}


def _path(loc: Sequence[int | str], union_tags: frozenset[str]) -> str:
    parts: list[str] = []
    previous: int | str | None = None
    for element in loc:
        if isinstance(element, str) and isinstance(previous, int) and element in union_tags:
            previous = element
            continue
        # pydantic names wrapper validators in the location ("function-after[...]"): not a key.
        if isinstance(element, str) and ("[" in element or element.startswith("function-")):
            continue
        parts.append(str(element))
        previous = element
    return ".".join(parts)


def field_errors(error: ValidationError, union_tags: Iterable[str] = ()) -> dict[str, str]:
    """The first message for each input path (a form shows one message per field)."""
    tags = frozenset(union_tags)
    fields: dict[str, str] = {}
    for item in error.errors(include_url=False):
        path = _path(item["loc"], tags) or "body"
        fields.setdefault(path, _message(item))
    return fields


def _message(item: Any) -> str:
    kind = item.get("type", "")
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    message = str(item.get("msg", "is invalid"))
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return message.replace("Input tag", "op").replace("input tag", "op")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return message
