"""The house shape, kept by a test: no function over 60 lines and no module over 400 in the
services and the shared lib (generated protobuf code aside), as ``scripts/check_shape.py`` reports.

Issue 15 brought every service under these limits; this keeps a newcomer's first read short.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def check_shape() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_shape", ROOT / "scripts" / "check_shape.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_function_over_60_lines_and_no_module_over_400_in_services_and_the_shared_lib() -> None:
    shape = check_shape()
    roots = shape.source_roots()
    assert len(roots) >= 7, roots  # six services and lectern-common: the check looks where the code is
    assert shape.offenders(roots) == []


def test_the_check_finds_a_long_function_and_a_long_module(tmp_path: Path) -> None:
    shape = check_shape()
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (tmp_path / "long_function.py").write_text(f"def too_long() -> None:\n{body}\n")
    (tmp_path / "long_module.py").write_text("\n".join(f"X{i} = {i}" for i in range(401)) + "\n")
    (tmp_path / "big_pb2.py").write_text("\n".join(f"X{i} = {i}" for i in range(401)) + "\n")
    found = shape.offenders([tmp_path])
    assert len(found) == 2, found
    assert any("too_long is 61 lines" in line for line in found)
    assert any("long_module.py: module of 401 lines" in line for line in found)
