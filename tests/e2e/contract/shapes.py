"""Shape checks: every ``data`` against the schema the gateway documents for its action in
``/openapi.json``, and the keys API.md names, so neither the document nor the answer can drift."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

# API.md section 1 (plus docs/contract-additions.md): the keys each kind of data must carry.
COURSE_KEYS = {"id", "title", "description", "version", "updatedAt", "deletedAt", "ownerId", "createdAt", "role"}
COURSE_EDIT_KEYS = {"id", "title", "description", "version", "updatedAt", "deletedAt", "chapters"}
CHAPTER_KEYS = {"id", "title", "position", "lessons"}
LESSON_KEYS = {"id", "title", "position", "media", "mediaId"}
LESSON_MEDIA_KEYS = {"id", "fileName", "status", "sizeBytes"}
MEDIA_KEYS = {
    "id",
    "title",
    "fileName",
    "mimeType",
    "sizeBytes",
    "checksum",
    "status",
    "usageCount",
    "version",
    "createdAt",
    "deletedAt",
}
LINK_KEYS = {"resourceType", "resourceId", "courseId", "linkedAt"}
UPLOAD_KEYS = {"operationId", "status", "offset", "sizeBytes", "mediaId", "error"}
STARTED_UPLOAD_KEYS = {"operationId", "uploadUrl", "uploadToken", "expiresAt", "chunkSizeBytes"}


class Shapes:
    """Validators for each action's success envelope, built from the gateway's own document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document
        self._validators: dict[str, Any] = {}

    def actions(self) -> set[str]:
        return {path.removeprefix("/actions/") for path in self._document["paths"] if path.startswith("/actions/")}

    def check(self, action: str, data: Any) -> None:
        """Fail unless ``{"success": true, "data": data}`` matches the action's documented 200 answer."""
        validator = self._validators.get(action)
        if validator is None:
            schema = self._document["paths"][f"/actions/{action}"]["post"]["responses"]["200"]["content"][
                "application/json"
            ]["schema"]
            validator = jsonschema_rs.validator_for({**schema, "components": self._document["components"]})
            self._validators[action] = validator
        errors = [str(error) for error in validator.iter_errors({"success": True, "data": data})]
        assert not errors, f"{action} data does not match /openapi.json:\n" + "\n\n".join(errors[:5])


def has_keys(value: dict[str, Any], keys: set[str], what: str) -> None:
    missing = keys - set(value)
    assert not missing, f"{what} lacks {sorted(missing)}: {value}"
