"""The committed generated code must be exactly what protos/generate.py makes from protos/."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "libs" / "lectern-protos" / "src" / "lectern"


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


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
