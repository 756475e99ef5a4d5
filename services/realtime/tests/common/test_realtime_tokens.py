"""lectern_common.realtime_tokens: what the gateway signs is exactly what realtime accepts."""

from __future__ import annotations

import pytest
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.realtime_tokens import RealtimeTokenError, RealtimeTokenIssuer, RealtimeTokenVerifier
from lectern_common.token_keys import SigningKey

KEY = SigningKey.generate()


def test_a_token_carries_the_user_and_its_courses():
    issued = RealtimeTokenIssuer(KEY, ttl_seconds=60).issue("u1", ["c2", "c1", "c1"])
    claims = RealtimeTokenVerifier(KEY.verifying_keys()).verify(issued.token)
    assert claims.user_id == "u1"
    assert claims.course_ids == frozenset({"c1", "c2"})
    assert claims.expires_at == issued.expires_at


def test_an_internal_service_token_cannot_open_a_socket_even_signed_with_the_same_key():
    internal = InternalTokenIssuer(KEY).issue(Identity(user_id="u1"))
    with pytest.raises(RealtimeTokenError) as refused:
        RealtimeTokenVerifier(KEY.verifying_keys()).verify(internal)
    assert refused.value.reason == "invalid"


def test_an_expired_token_says_expired():
    token = RealtimeTokenIssuer(KEY, ttl_seconds=-60).issue("u1").token
    with pytest.raises(RealtimeTokenError) as refused:
        RealtimeTokenVerifier(KEY.verifying_keys(), leeway_seconds=0).verify(token)
    assert refused.value.reason == "expired"


def test_a_token_from_another_key_is_invalid():
    token = RealtimeTokenIssuer(SigningKey.generate()).issue("u1").token
    with pytest.raises(RealtimeTokenError) as refused:
        RealtimeTokenVerifier(KEY.verifying_keys()).verify(token)
    assert refused.value.reason == "invalid"
