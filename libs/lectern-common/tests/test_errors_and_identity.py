"""Unit tests (no I/O) of the error tables and the internal token."""

from __future__ import annotations

import grpc
import pytest
from lectern_common.errors import (
    GRPC_STATUS_BY_KIND,
    HTTP_STATUS_BY_KIND,
    DomainError,
    ErrorKind,
    decode_grpc_error,
    encode_error_metadata,
)
from lectern_common.identity import Identity, InternalTokenIssuer, InternalTokenVerifier
from lectern_common.token_keys import SigningKey


def test_every_kind_has_a_grpc_status_and_an_http_status() -> None:
    assert set(GRPC_STATUS_BY_KIND) == set(ErrorKind)
    assert set(HTTP_STATUS_BY_KIND) == set(ErrorKind)


def test_domain_error_round_trips_through_trailing_metadata() -> None:
    error = DomainError(
        "media.has_dependencies",
        "in use",
        ErrorKind.HAS_DEPENDENCIES,
        fields={"mediaId": "x"},
        details={"links": [{"resourceId": "l1"}]},
    )
    back = decode_grpc_error(grpc.StatusCode.FAILED_PRECONDITION, "in use", encode_error_metadata(error))
    assert back.to_dict() == error.to_dict()


def test_bare_internal_status_hides_the_peers_message() -> None:
    back = decode_grpc_error(grpc.StatusCode.INTERNAL, "Traceback: psycopg error at ...", ())
    assert back.kind is ErrorKind.INTERNAL
    assert "Traceback" not in back.message


def test_internal_token_carries_user_and_roles() -> None:
    key = SigningKey.generate()
    token = InternalTokenIssuer(key).issue(Identity("u1", frozenset({"instructor"})))
    identity = InternalTokenVerifier(key.verifying_keys()).verify(token)
    assert identity == Identity("u1", frozenset({"instructor"}))


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_garbage_tokens_are_unauthenticated(token: str) -> None:
    with pytest.raises(DomainError) as caught:
        InternalTokenVerifier(SigningKey.generate().verifying_keys()).verify(token)
    assert caught.value.kind is ErrorKind.UNAUTHENTICATED


async def test_readiness_failures_name_the_dependency_and_carry_no_exception_text() -> None:
    from lectern_common.devstack.ports import free_port
    from lectern_common.health import run_checks, tcp_check

    failures = await run_checks([tcp_check(f"http://127.0.0.1:{free_port()}", name="object store")])

    assert failures == ["object store: unavailable"]
