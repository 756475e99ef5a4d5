"""The reference editor (``clients/web/apps/editor``) as one more process of the dev stack.

It is a static build served by ``vite preview``, which also proxies ``/actions`` and ``/auth`` to
the gateway, ``/files`` to upload and ``/ws`` to realtime: the browser sees one origin, as it does
behind the production Ingress (ARCHITECTURE section 8), so no CORS is involved. The launcher starts
it after the services (it needs their ports) and stops it with them.

``make up`` and ``make test`` build the editor first (``npm ci`` + ``npm run build``). With
``--editor auto`` (the default) a missing build or a missing Node.js is a printed line, not a
failed launch: the backend runs without the editor. ``--editor require`` makes it a failure.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lectern_common.devstack.ports import port_answers
from lectern_common.devstack.process import ManagedProcess, NeverReady, wait_ready

EditorMode = Literal["auto", "off", "require"]
DEFAULT_EDITOR_PORT = 5173

FRONTED = "gateway"
"""The editor is served when this service runs: it is what the editor's pages call."""
UPSTREAMS = {
    "gateway": "LECTERN_EDITOR_GATEWAY_URL",
    "upload": "LECTERN_EDITOR_UPLOAD_URL",
    "realtime": "LECTERN_EDITOR_REALTIME_URL",
}
"""The services ``vite preview`` proxies to, and the variable its config reads each one's URL from."""


def wanted(started: Iterable[str]) -> bool:
    """Whether this run has what the editor fronts."""
    return FRONTED in set(started)


class EditorUnavailable(RuntimeError):
    """The editor cannot be served here; the message says what to do."""


def locate_editor() -> Path:
    """The workspace's ``clients/web/apps/editor``, from this file (an editable install) or the cwd."""
    found = find_editor_dir(Path(__file__).resolve()) or find_editor_dir(Path.cwd())
    if found is None:
        raise EditorUnavailable("clients/web/apps/editor not found in this workspace")
    return found


def find_editor_dir(start: Path) -> Path | None:
    """``clients/web/apps/editor`` of the workspace that contains ``start``."""
    for candidate in (start, *start.parents):
        editor = candidate / "clients" / "web" / "apps" / "editor"
        if (editor / "package.json").exists():
            return editor
    return None


@dataclass(frozen=True)
class EditorCommand:
    argv: list[str]
    cwd: Path


def editor_command(editor_dir: Path, port: int) -> EditorCommand:
    """``node …/vite.js preview`` on ``port``, or :class:`EditorUnavailable` saying what is missing."""
    if not (editor_dir / "dist" / "index.html").exists():
        raise EditorUnavailable(f"the editor is not built ({editor_dir / 'dist'} missing): run `make web-build`")
    node = shutil.which("node")
    if node is None:
        raise EditorUnavailable("Node.js is not installed (the editor needs Node.js 20.19+)")
    # npm workspaces hoist vite to clients/web/node_modules; a standalone install keeps it local.
    for modules in (editor_dir / "node_modules", editor_dir.parent.parent / "node_modules"):
        vite = modules / "vite" / "bin" / "vite.js"
        if vite.exists():
            return EditorCommand(
                [node, str(vite), "preview", "--host", "127.0.0.1", "--port", str(port), "--strictPort"],
                editor_dir,
            )
    raise EditorUnavailable("vite is not installed in clients/web: run `make web-install`")


class EditorServer:
    """``vite preview`` of the built editor, proxying to this stack's gateway, upload and realtime."""

    def __init__(
        self,
        command: EditorCommand,
        *,
        port: int,
        http_ports: Mapping[str, int],
        log_path: Path,
        base_env: dict[str, str],
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        """``http_ports``: each service's HTTP port in this run (its default when not started)."""
        self.port = port
        env = dict(base_env)
        env.update(
            {
                variable: f"http://127.0.0.1:{http_ports[name]}"
                for name, variable in UPSTREAMS.items()
                if name in http_ports
            }
        )
        self.process = ManagedProcess(
            "editor", command.argv, log_path=log_path, env=env, cwd=command.cwd, on_line=on_line
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float) -> None:
        await self.process.start()
        try:
            await wait_ready(self.process, lambda: port_answers(self.port, timeout=0.5), timeout)
        except NeverReady as exc:
            tail = self.process.tail()
            if exc.exit_code is not None:
                raise EditorUnavailable(f"the editor exited with code {exc.exit_code}:\n{tail}") from None
            raise EditorUnavailable(f"the editor did not answer on {self.port} in {timeout:.0f}s:\n{tail}") from None

    async def stop(self, grace: float) -> None:
        await self.process.stop(grace=grace)

    def kill_now(self) -> None:
        self.process.kill_now()
