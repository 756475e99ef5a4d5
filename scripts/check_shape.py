"""Report what breaks the house shape: functions over 60 lines, modules over 400, in services and the shared lib.

Generated code (``*_pb2*.py``) is left out. Prints one line per offender and exits 1 when there is any;
``python scripts/check_shape.py services/upload`` narrows it to one folder.
"""

from __future__ import annotations

import ast
import pathlib
import sys

MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
ROOT = pathlib.Path(__file__).resolve().parent.parent


def source_roots() -> list[pathlib.Path]:
    return [*sorted(ROOT.glob("services/*/src")), ROOT / "libs/lectern-common/src"]


def offenders(roots: list[pathlib.Path]) -> list[str]:
    found: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "_pb2" in path.name:
                continue
            text = path.read_text()
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            lines = text.count("\n")
            if lines > MAX_MODULE_LINES:
                found.append(f"{where}: module of {lines} lines (at most {MAX_MODULE_LINES})")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append(
                            f"{where}:{node.lineno}: {node.name} is {length} lines (at most {MAX_FUNCTION_LINES})"
                        )
    return found


def main(argv: list[str]) -> int:
    roots = [ROOT / arg for arg in argv] if argv else source_roots()
    found = offenders(roots)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
