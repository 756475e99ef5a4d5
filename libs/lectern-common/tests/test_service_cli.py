"""The shared entry point builds a service's app inside the loop that runs it.

Loop-bound objects (gRPC channels, aiokafka clients, futures) bind to the loop current when they
are made; an app built before ``asyncio.run`` started would hold objects bound to a loop that
never runs, and every call through them fails ("attached to a different loop").
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType

from lectern_common.runtime import Part
from lectern_common.service_cli import run_service
from lectern_common.settings import ServiceSettings


class _LoopRecordingApp:
    """An app that notes the loop it was built in, the loop its part ran in, and a real channel."""

    built_in: asyncio.AbstractEventLoop | None = None
    ran_in: asyncio.AbstractEventLoop | None = None
    channel_state: str | None = None

    def __init__(self, settings: ServiceSettings) -> None:
        import grpc

        type(self).built_in = asyncio.get_running_loop()  # raises when built outside a running loop
        # A real loop-bound object made while building, used by the part below.
        self._channel = grpc.aio.insecure_channel("127.0.0.1:9")

    def parts(self) -> Mapping[str, Part]:
        return {"probe": self._probe}

    async def _probe(self, stop: asyncio.Event) -> None:
        type(self).ran_in = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self._channel.channel_ready(), timeout=0.2)
        except TimeoutError:
            pass  # nothing listens on port 9; what matters is that the channel works in this loop
        type(self).channel_state = str(self._channel.get_state())

    async def __aenter__(self) -> _LoopRecordingApp:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._channel.close()


def test_run_service_builds_the_app_inside_the_loop_that_runs_its_parts() -> None:
    code = run_service(
        name="probe",
        settings_factory=lambda: ServiceSettings(log_json=False),
        app_factory=_LoopRecordingApp,
        package_file=__file__,
        argv=["serve"],
    )

    assert code == 0
    assert _LoopRecordingApp.built_in is not None
    assert _LoopRecordingApp.built_in is _LoopRecordingApp.ran_in
    assert _LoopRecordingApp.channel_state is not None
