"""The run directory: data and logs of one stack, held by one launcher at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from lectern_common.devstack.errors import LaunchError


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """One launcher per run directory: a second one would wipe the first one's data."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "launcher.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LaunchError(f"another launcher is using {run_dir}; stop it or pass --run-dir") from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def default_run_dir() -> Path:
    """``.devstack/`` at the workspace root (found from the current directory), else here."""
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.exists() and "[tool.uv.workspace]" in pyproject.read_text():
            return candidate / ".devstack"
    return here / ".devstack"
