"""The shared entry point builds a service's app inside the loop that runs it.

Loop-bound objects (gRPC channels, aiokafka clients, futures) bind to the loop current when they
are made; an app built before ``asyncio.run`` started would hold objects bound to a loop that
never runs, and every call through them fails ("attached to a different loop").
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType

import pytest
from lectern_common.runtime import Part
from lectern_common.service_cli import Tracing, run_service
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


class _LoopTypeApp:
    """An app whose one part notes the type of the loop it runs on."""

    loop_type: str | None = None

    def __init__(self, settings: ServiceSettings) -> None:
        pass

    def parts(self) -> Mapping[str, Part]:
        return {"probe": self._probe}

    async def _probe(self, stop: asyncio.Event) -> None:
        type(self).loop_type = type(asyncio.get_running_loop()).__module__

    async def __aenter__(self) -> _LoopTypeApp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def test_loop_fastest_runs_the_parts_on_uvloop() -> None:
    code = run_service(
        name="probe",
        settings_factory=lambda: ServiceSettings(log_json=False),
        app_factory=_LoopTypeApp,
        package_file=__file__,
        argv=["serve"],
        loop="fastest",
    )

    assert code == 0
    assert _LoopTypeApp.loop_type is not None and _LoopTypeApp.loop_type.startswith("uvloop")


def test_the_default_loop_is_asyncios_own() -> None:
    run_service(
        name="probe",
        settings_factory=lambda: ServiceSettings(log_json=False),
        app_factory=_LoopTypeApp,
        package_file=__file__,
        argv=["serve"],
    )

    assert _LoopTypeApp.loop_type is not None and _LoopTypeApp.loop_type.startswith("asyncio")


def test_the_tuning_hook_runs_once_before_the_loop_starts_and_before_the_app_is_built() -> None:
    calls: list[str] = []

    def tune() -> None:
        try:
            asyncio.get_running_loop()
            calls.append("inside a loop")
        except RuntimeError:
            calls.append("before the loop")

    class _App(_LoopTypeApp):
        def __init__(self, settings: ServiceSettings) -> None:
            calls.append("app built")

    run_service(
        name="probe",
        settings_factory=lambda: ServiceSettings(log_json=False),
        app_factory=_App,
        package_file=__file__,
        argv=["serve"],
        tune_process=tune,
    )

    assert calls == ["before the loop", "app built"]


def test_migrate_without_a_database_does_nothing_and_succeeds() -> None:
    """No migrations folder, a database URL nothing listens on: either would fail a real migrate."""
    code = run_service(
        name="probe",
        settings_factory=lambda: ServiceSettings(
            log_json=False, database_url="postgresql+asyncpg://postgres@127.0.0.1:9/none"
        ),
        app_factory=_LoopTypeApp,
        package_file="/nonexistent/lectern_probe/__main__.py",
        argv=["migrate"],
        migrations=False,
    )

    assert code == 0


def test_an_unknown_command_exits_with_status_2() -> None:
    with pytest.raises(SystemExit) as exit_:
        run_service(
            name="probe",
            settings_factory=lambda: ServiceSettings(log_json=False),
            app_factory=_LoopTypeApp,
            package_file=__file__,
            argv=["launch"],
        )

    assert exit_.value.code == 2


@pytest.mark.parametrize(
    ("tracing", "endpoint", "set_up"),
    [("always", None, True), ("when_exporting", None, False), ("when_exporting", "http://127.0.0.1:9", True)],
)
def test_tracing_when_exporting_sets_up_telemetry_only_with_an_endpoint(
    monkeypatch: pytest.MonkeyPatch, tracing: Tracing, endpoint: str | None, set_up: bool
) -> None:
    from lectern_common import telemetry

    calls: list[str] = []
    monkeypatch.setattr(telemetry, "setup_telemetry", lambda name, endpoint=None: calls.append("setup"))
    monkeypatch.setattr(telemetry, "shutdown_telemetry", lambda: calls.append("shutdown"))
    run_service(
        name="probe",
        settings_factory=lambda: ServiceSettings(log_json=False, otlp_endpoint=endpoint),
        app_factory=_LoopTypeApp,
        package_file=__file__,
        argv=["serve"],
        tracing=tracing,
    )

    assert calls == (["setup", "shutdown"] if set_up else [])
