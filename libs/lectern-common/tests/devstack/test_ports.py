"""Free ports are free, handed out once, and outside the range outgoing connections take."""

from __future__ import annotations

import socket

import pytest
from lectern_common.devstack import ports
from lectern_common.devstack.ports import LOWEST_PORT, RESERVED_PORTS, ephemeral_range, free_port


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    first, _ = ephemeral_range()
    ports = [free_port() for _ in range(50)]

    assert len(set(ports)) == len(ports)
    assert not set(ports) & RESERVED_PORTS
    if first - LOWEST_PORT >= 1_000:  # else the kernel picks, from anywhere
        assert all(LOWEST_PORT <= port < first for port in ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        monkeypatch.setattr(ports, "_candidates", lambda: iter([taken, 0]))

        assert ports.free_port() not in (taken, 0)
