"""Base models for action inputs and ``data``, the envelope, and the field types inputs share.

Inputs are strict (a JSON number is not a string, ``"3"`` is not a number), refuse unknown
fields, and speak camelCase on the wire; ``data`` models serialize camelCase with every field
present (``null`` rather than missing), so the OpenAPI document can say each is required.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

# Text a person typed: no NUL (PostgreSQL refuses it) and a sane length.
_NO_NUL = r"^[^\x00]*$"
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_NUL)]
Description = Annotated[str, StringConstraints(max_length=5000, pattern=_NO_NUL)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
# A user id as OIDC providers issue them (``auth0|123``, e-mail addresses): any characters but
# control characters, as long as every plane stores (lectern_common.identity.is_usable_user_id).
UserId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
"""Ids are opaque to clients, but never empty, huge or full of control characters."""
Cursor = Annotated[str, StringConstraints(max_length=512, pattern=_NO_NUL)]
Query = Annotated[str, StringConstraints(max_length=200, pattern=_NO_NUL)]
Version = Annotated[int, Field(ge=0, le=2**53)]
Position = Annotated[int, Field(ge=0, le=100_000)]
PageLimit = Annotated[int, Field(ge=1, le=100)]

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError("must be between 1970 and 2200")
    return value.astimezone(UTC)


Instant = Annotated[AwareDatetime, AfterValidator(_plausible)]
"""An RFC 3339 time with its offset; stored and answered in UTC."""


class InputModel(BaseModel):
    """An action's input: strict, camelCase, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        strict=True,
        frozen=True,
    )


class DataModel(BaseModel):
    """An action's ``data``: camelCase out, every field always present."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class EmptyInput(InputModel):
    """An action that takes no input (an empty body or ``{}``)."""


class ErrorBody(DataModel):
    """``fields`` and ``details`` appear only when there is something in them."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, json_schema_serialization_defaults_required=False
    )

    code: Literal[
        "VALIDATION_FAILED",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "CONFLICT",
        "HAS_DEPENDENCIES",
        "PAYLOAD_TOO_LARGE",
        "UNSUPPORTED_MEDIA_TYPE",
        "QUOTA_EXCEEDED",
        "RATE_LIMITED",
        "UNAVAILABLE",
        "INTERNAL",
    ]
    message: str
    reason: str = Field(description="The stable, finer-grained error code, e.g. `course.version_conflict`.")
    fields: dict[str, str] | None = Field(default=None, description="Field errors keyed by input path.")
    details: dict[str, Any] | None = None


class ErrorEnvelope(DataModel):
    success: Literal[False]
    error: ErrorBody


D = TypeVar("D", bound=BaseModel)


class SuccessEnvelope(DataModel, Generic[D]):
    success: Literal[True]
    data: D
