"""The wiring: building the app makes nothing loop-bound (channels, clients and futures are made
in the loop that runs the parts), so no entry point or test can bind them to the wrong loop."""

from __future__ import annotations

from lectern_common.testing.loops import build_without_a_loop
from lectern_upload.bootstrap import UploadApp
from lectern_upload.settings import UploadSettings


def test_building_the_app_outside_any_loop_makes_nothing_loop_bound() -> None:
    app = build_without_a_loop(lambda: UploadApp(UploadSettings()))

    assert set(app.parts()) == {"http", "grpc", "outbox-relay", "media-events", "janitor"}
