"""The dev stack stays a small program: a launcher that knows no service, in small modules.

Adding a service must not mean editing the launcher: what differs between services lives in each
one's ``ServiceSpec`` (``launch.py``). Issue 15's size limits hold here as everywhere in the
shared lib; ``tests/test_service_shape.py`` checks them for all of it.
"""

from __future__ import annotations

import re
from pathlib import Path

import lectern_common.devstack

DEVSTACK = Path(lectern_common.devstack.__file__).parent

SERVICE_NAMES = ("course", "media", "upload", "realtime", "analytics", "gateway")
# A name not inside a longer word: "upload" in LECTERN_UPLOAD_X or lectern-media, not "immediately".
MENTION = re.compile(rf"(?<![a-z])({'|'.join(SERVICE_NAMES)})(?![a-z])", re.IGNORECASE)
LAUNCHER_MODULES = ("launcher.py", "supervisor.py", "environment.py", "catalogue.py", "rundir.py")
"""The launcher and the modules it is made of; servers (the editor fronts three services) may."""


def test_the_launcher_mentions_no_service_by_name() -> None:
    mentions = [
        f"{name}:{number}: {line.strip()}"
        for name in LAUNCHER_MODULES
        for number, line in enumerate((DEVSTACK / name).read_text().splitlines(), start=1)
        if MENTION.search(line)
    ]
    assert mentions == []


def test_the_name_check_would_catch_a_mention() -> None:
    assert MENTION.search('if spec.name == "gateway":')
    assert MENTION.search("env['LECTERN_UPLOAD_CORS'] = x")
    assert not MENTION.search("answer immediately; courseware")
