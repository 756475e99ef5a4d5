"""The committed generated code must be exactly what protos/generate.py makes from protos/."""

from __future__ import annotations

import filecmp
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "libs" / "lectern-protos" / "src" / "lectern"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lectern_protos_generate", REPO / "protos" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()


def _files(root: Path) -> set[str]:
    """The generated files under ``root`` (hand-written modules such as event_types.py are not compared)."""
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and GENERATOR.is_generated(p)
    }


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "protos" / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = tmp_path / "lectern"
    assert _files(fresh) == _files(COMMITTED), "run `uv run python protos/generate.py` and commit"
    stale = [name for name in sorted(_files(fresh)) if not filecmp.cmp(fresh / name, COMMITTED / name, shallow=False)]
    assert stale == [], f"stale generated files {stale}: run `uv run python protos/generate.py` and commit"


def test_generated_code_imports() -> None:
    from lectern.course.v1 import course_pb2, course_pb2_grpc
    from lectern.events.v1 import envelope_pb2

    assert course_pb2.DESCRIPTOR.package == "lectern.course.v1"
    assert hasattr(course_pb2_grpc, "CourseServiceServicer")
    assert envelope_pb2.EventEnvelope.DESCRIPTOR.fields_by_name["payload"].message_type.full_name == (
        "google.protobuf.Any"
    )


def test_a_run_keeps_hand_written_modules(tmp_path: Path) -> None:
    hand_written = tmp_path / "lectern" / "events" / "v1" / "event_types.py"
    hand_written.parent.mkdir(parents=True)
    hand_written.write_text("KEPT = True\n")
    stale = tmp_path / "lectern" / "gone" / "v1" / "gone_pb2.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("")

    GENERATOR.generate(tmp_path)

    assert hand_written.read_text() == "KEPT = True\n"
    assert not stale.exists(), "a generated module whose proto is gone must not survive a run"
    assert (tmp_path / "lectern" / "events" / "v1" / "envelope_pb2.py").exists()
