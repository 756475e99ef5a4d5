"""Playwright helpers for the editor's browser tests: Debian's Chromium, artefacts, the editor's pages.

The browser is the system Chromium (``/usr/bin/chromium``, or ``LECTERN_CHROMIUM``), launched by
Playwright's Python package without downloading a browser of its own. Screenshots go to
``test-artifacts/editor/`` at the workspace root (``LECTERN_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from lectern_common.testing.videos import video_of_size
from playwright.async_api import Browser, BrowserContext, Page, expect

WORKSPACE = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("LECTERN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("LECTERN_TEST_ARTIFACTS", WORKSPACE / "test-artifacts")) / "editor"
# A browser step on a loaded 2-core machine: generous, never a sleep (expect() polls).
STEP_MS = 30_000
expect.set_options(timeout=STEP_MS)


def missing_browser_message() -> str | None:
    if CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK):
        return None
    return (
        f"Chromium not found at {CHROMIUM}: install it (Debian: apt-get install -y chromium) or set "
        "LECTERN_CHROMIUM; the browser tests never download a browser"
    )


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def new_context(browser: Browser) -> BrowserContext:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(STEP_MS)
    return context


async def sign_in(page: Page, editor_url: str, user_id: str) -> None:
    await page.goto(editor_url)
    await page.get_by_test_id("login-user").fill(user_id)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("current-user")).to_have_text(user_id)


async def open_course(page: Page, editor_url: str, course_id: str) -> None:
    await page.goto(f"{editor_url}/#/courses/{course_id}")
    await expect(page.get_by_test_id("save-changes")).to_be_visible()


async def wait_live(page: Page) -> None:
    await expect(page.get_by_test_id("realtime-status")).to_have_attribute("data-status", "open")


def video_file(directory: Path, name: str, size: int) -> Path:
    """A file for ``set_input_files``: bytes the media service takes as a video (as the API e2e does).

    On disk rather than a buffer: Chromium reads a local path itself, a buffer goes through the
    driver's protocol (slow for megabytes on a loaded machine).
    """
    path = directory / name
    path.write_bytes(video_of_size(size))  # a real video: media probes what it stores
    return path


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def realtime_connections(stack: Any, user_id: str) -> int:
    """Sockets the realtime service holds for ``user_id`` (its internal ``/v1/connections``)."""
    realtime = stack.services["realtime"]
    # The internal routes sit beside POST /v1/publish: on its own port when the service has one.
    port = realtime.env.get("LECTERN_REALTIME_PUBLISH_PORT") or realtime.http_port
    token = realtime.env.get("LECTERN_REALTIME_REALTIME_PUBLISH_TOKEN") or stack.secrets["realtime_publish_token"]
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"http://127.0.0.1:{port}/v1/connections",
            params={"userId": user_id},
            headers={"Authorization": f"Bearer {token}"},
        )
    response.raise_for_status()
    return int(response.json()["data"]["userConnections"])


def signal_realtime(stack: Any, sig: signal.Signals) -> None:
    """SIGSTOP/SIGCONT the realtime service's process group (from the stack's state file)."""
    pid = stack.services["realtime"].pid
    assert pid, "the state file names no realtime pid"
    os.killpg(os.getpgid(pid), sig)
