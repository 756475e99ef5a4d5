"""The dev stack stays a small program: a launcher that knows no service, in small modules.

Adding a service must not mean editing the launcher: what differs between services lives in each
one's ``ServiceSpec`` (``launch.py``). And issue 15's limits hold here as everywhere in the shared
lib: no module over 400 lines, no function over 60 (``scripts/check_shape.py``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import lectern_common.devstack

DEVSTACK = Path(lectern_common.devstack.__file__).parent
ROOT = next(p for p in DEVSTACK.parents if (p / "scripts" / "check_shape.py").exists())

SERVICE_NAMES = ("course", "media", "upload", "realtime", "analytics", "gateway")
# A name not inside a longer word: "upload" in LECTERN_UPLOAD_X or lectern-media, not "immediately".
MENTION = re.compile(rf"(?<![a-z])({'|'.join(SERVICE_NAMES)})(?![a-z])", re.IGNORECASE)
LAUNCHER_MODULES = ("launcher.py", "supervisor.py", "environment.py", "catalogue.py", "rundir.py")
"""The launcher and the modules it is made of; servers (the editor fronts three services) may."""


def check_shape() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_shape", ROOT / "scripts" / "check_shape.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_no_devstack_module_or_function_is_over_the_limits() -> None:
    assert check_shape().offenders([DEVSTACK]) == []
