"""The suite runs against the processes as users launch them: each service on the event loop it
really runs (uvloop for upload and realtime), every app built inside that loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# The services whose entry point runs uvloop (lectern_common.runtime.run_on_fastest_loop).
ON_UVLOOP = ("upload", "realtime")


def _mapped_files(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps (Linux)")
def test_upload_and_realtime_run_on_uvloop_as_launched(lectern_stack: Any) -> None:
    for name in ON_UVLOOP:
        service = lectern_stack.services[name]
        assert service.pid, f"{name} has no pid in the launcher's state"
        assert "/uvloop/" in _mapped_files(service.pid), f"{name} (pid {service.pid}) has not loaded uvloop"
