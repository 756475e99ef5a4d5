"""The loop-free build check catches what binds to a loop while it is made."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from lectern_common.testing.loops import build_without_a_loop


def test_a_grpc_channel_made_while_building_is_caught() -> None:
    with pytest.raises(RuntimeError, match="no current event loop"):
        build_without_a_loop(lambda: grpc.aio.insecure_channel("127.0.0.1:9"))


def test_loop_free_objects_build() -> None:
    event = build_without_a_loop(asyncio.Event)
    assert not event.is_set()
