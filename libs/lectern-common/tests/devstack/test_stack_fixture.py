"""The ``lectern_stack`` fixture brings up every installed service, as ``make up`` does."""

from __future__ import annotations

from importlib.metadata import entry_points

from lectern_common.devstack.catalogue import ENTRY_POINT_GROUP, discover
from lectern_common.devstack.ports import port_answers
from lectern_common.devstack.state import StackState


async def test_stack_runs_every_installed_service_on_answering_ports(lectern_stack: StackState) -> None:
    installed = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(lectern_stack.services) == installed
    for service in lectern_stack.services.values():
        for port in (service.grpc_port, service.http_port):
            if port:
                assert await port_answers(port), f"{service.name} does not answer on {port}"
    every_topic = {topic for spec in discover().known for topic in spec.topics}
    assert every_topic and every_topic <= set(lectern_stack.topics)
    assert lectern_stack.secrets["internal_token_public_keys"]
