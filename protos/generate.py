"""Generate Python code for every .proto under protos/ into libs/lectern-protos/src.

One script, one output: `uv run python protos/generate.py`. The output is committed, and
`libs/lectern-protos/tests/test_generated_code_is_fresh.py` fails when it is stale.
`--out DIR` writes elsewhere (the freshness test uses a temporary directory). Hand-written modules
beside the generated ones (``lectern/events/v1/event_types.py``) are left in place: a run replaces
only the files protoc and this script make (:func:`is_generated`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = PROTO_ROOT.parent / "libs" / "lectern-protos" / "src"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
GENERATED_NAMES = ("__init__.py", "py.typed")


def is_generated(path: Path) -> bool:
    """Whether ``path`` is one of the files a run makes (and so replaces), not a hand-written one."""
    return path.name in GENERATED_NAMES or path.name.endswith(GENERATED_SUFFIXES)


def generate(out_dir: Path) -> None:
    """Compile every proto into ``out_dir/lectern/...`` with gRPC stubs and mypy stubs."""
    package_dir = out_dir / "lectern"
    if package_dir.exists():  # clear the last run's output (a removed proto leaves nothing behind)
        for stale in [p for p in package_dir.rglob("*") if p.is_file() and is_generated(p)]:
            stale.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    bin_dir = Path(sys.executable).parent  # the plugins live beside the interpreter in the venv
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Regular packages (not namespace ones) so the wheel and mypy see every module.
    for directory in [package_dir, *(d for d in package_dir.rglob("*") if d.is_dir())]:
        (directory / "__init__.py").touch()
    (package_dir / "py.typed").touch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    options = parser.parse_args(argv)
    generate(options.out)
    print(f"generated into {options.out / 'lectern'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
