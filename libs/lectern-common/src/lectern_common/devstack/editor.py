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

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lectern_common.devstack.ports import port_answers
from lectern_common.devstack.process import ManagedProcess

EditorMode = Literal["auto", "off", "require"]
DEFAULT_EDITOR_PORT = 5173


class EditorUnavailable(RuntimeError):
    """The editor cannot be served here; the message says what to do."""


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
        gateway_url: str,
        upload_url: str,
        realtime_url: str,
        log_path: Path,
        base_env: dict[str, str],
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.port = port
        env = dict(base_env)
        env.update(
            {
                "LECTERN_EDITOR_GATEWAY_URL": gateway_url,
                "LECTERN_EDITOR_UPLOAD_URL": upload_url,
                "LECTERN_EDITOR_REALTIME_URL": realtime_url,
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
        deadline = time.monotonic() + timeout
        while not await port_answers(self.port, timeout=0.5):
            if not self.process.running:
                code = await self.process.wait()
                raise EditorUnavailable(f"the editor exited with code {code}:\n{self.process.tail()}")
            if time.monotonic() > deadline:
                raise EditorUnavailable(
                    f"the editor did not answer on {self.port} in {timeout:.0f}s:\n{self.process.tail()}"
                )
            await asyncio.sleep(0.1)

    async def stop(self, grace: float) -> None:
        await self.process.stop(grace=grace)

    def kill_now(self) -> None:
        self.process.kill_now()
