"""Realtime's errors: a stable code and a kind each; one place maps them to HTTP and WebSocket."""

from __future__ import annotations

from lectern_common.errors import DomainError, ErrorKind

# WebSocket close codes (4000-4999 are the application's). A browser reads code and reason.
CLOSE_UNAUTHENTICATED = 4001  # missing, invalid or expired token: fetch a new one, reconnect
CLOSE_GOING_AWAY = 1001  # this replica is shutting down: reconnect (elsewhere) with since
CLOSE_TRY_AGAIN = 1013  # slow consumer or broker trouble: reconnect with since
CLOSE_POLICY = 1008
CLOSE_TOO_MANY_CONNECTS = 4029  # this user opened sockets too fast: wait the seconds in the reason


def invalid_channel(channel: object) -> DomainError:
    return DomainError(
        "realtime.invalid_channel",
        "channel must be user:<id> or course:<id>",
        ErrorKind.VALIDATION_FAILED,
        fields={"channel": "must be user:<id> or course:<id> (an id of 1 to 200 characters, no control characters)"},
        details={"channel": str(channel)[:200]},
    )


def invalid_message(reason: str, field: str = "message") -> DomainError:
    return DomainError("realtime.invalid_message", reason, ErrorKind.VALIDATION_FAILED, fields={field: reason})


def message_too_large(size: int, limit: int) -> DomainError:
    return DomainError(
        "realtime.message_too_large",
        f"message is {size} bytes; the limit is {limit}",
        ErrorKind.PAYLOAD_TOO_LARGE,
        details={"sizeBytes": size, "limitBytes": limit},
    )


def channel_forbidden(channel: str) -> DomainError:
    return DomainError(
        "realtime.channel_forbidden",
        "this connection may not subscribe to that channel",
        ErrorKind.FORBIDDEN,
        details={"channel": channel},
    )


def too_many_subscriptions(limit: int) -> DomainError:
    return DomainError(
        "realtime.too_many_subscriptions",
        f"a connection holds at most {limit} subscriptions",
        ErrorKind.QUOTA_EXCEEDED,
        details={"limit": limit},
    )


def unauthenticated_publisher() -> DomainError:
    return DomainError("realtime.unauthenticated", "missing or invalid service credential", ErrorKind.UNAUTHENTICATED)


def unavailable(what: str) -> DomainError:
    return DomainError("realtime.unavailable", f"{what} is unavailable; retry shortly", ErrorKind.UNAVAILABLE)
