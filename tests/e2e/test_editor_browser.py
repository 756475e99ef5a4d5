"""The reference editor in Chromium, on the launched stack (every service, the launcher's editor).

The seed's user flow; two tabs of one user (same progress, same new lesson, one WebSocket for the
browser, counted on the realtime side); two tabs saving the same course (the second conflicts,
rolls back and shows the current state); realtime stopped mid-upload (the upload completes and
the editor shows it, by polling); deleting a linked video (where it is used, what a delete would
remove). Screenshots of the main screens are kept in ``test-artifacts/editor/``.

``LECTERN_E2E_STATE_FILE`` (the state file of a running ``python -m lectern_common.devstack up
--state-file …``) runs these against that stack instead of starting one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lectern_common.devstack.state import StackState
from lectern_common.testing.videos import video_of_size
from playwright.async_api import Browser, Page, async_playwright, expect

from .editor_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    missing_browser_message,
    new_context,
    open_course,
    realtime_connections,
    screenshot,
    sign_in,
    signal_realtime,
    until,
    video_file,
    wait_live,
)
from .gateway_client import ActionClient, tus_upload

pytestmark = pytest.mark.timeout(240)

SMALL_VIDEO = 2 * 1024 * 1024


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(request: pytest.FixtureRequest) -> StackState:
    state_file = os.environ.get("LECTERN_E2E_STATE_FILE")
    if state_file:
        return StackState.read(Path(state_file))
    state: StackState = request.getfixturevalue("lectern_stack")
    return state


@pytest.fixture(scope="module")
def editor_url(stack: StackState) -> str:
    url = stack.urls.get("editor")
    if not url:
        pytest.fail(
            "the launcher served no editor: build it first (`make web-build`, which `make test` runs; "
            "it needs Node.js 20.19+), see the launcher's output for why"
        )
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    missing = missing_browser_message()
    if missing:
        pytest.fail(missing)  # in CI a missing browser is a failure, never a skip
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def user(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


async def course_with_chapter(stack: StackState, user_id: str, title: str) -> tuple[ActionClient, str, str]:
    """Setup through the gateway (the UI flow itself is the first test's subject)."""
    api = await ActionClient.login(stack.urls["gateway"], user_id)
    course = await api.ok("createCourse", {"title": title})
    saved = await api.ok(
        "saveCourseChanges",
        {
            "courseId": course["id"],
            "expectedVersion": course["version"],
            "operations": [{"op": "addChapter", "tempId": "c", "title": "Intro"}],
        },
    )
    return api, course["id"], saved["idMap"]["c"]


async def lesson_with_video(api: ActionClient, course_id: str, chapter_id: str, file_name: str) -> str:
    started = await api.ok(
        "startUpload",
        {
            "fileName": file_name,
            "sizeBytes": SMALL_VIDEO,
            "mimeType": "video/mp4",
            "courseId": course_id,
            "chapterId": chapter_id,
        },
    )
    await asyncio.to_thread(
        tus_upload, started["uploadUrl"], started["uploadToken"], video_of_size(SMALL_VIDEO), 512 * 1024
    )

    media_ids: list[str] = []

    async def has_media() -> bool:
        edit = await api.ok("getCourseEdit", {"courseId": course_id})
        media_ids[:] = [
            lesson["mediaId"] for chapter in edit["chapters"] for lesson in chapter["lessons"] if lesson.get("mediaId")
        ]
        return bool(media_ids)

    await until(has_media, 90, "the uploaded video's lesson")
    return media_ids[0]


async def chapter_titles(page: Page) -> list[str]:
    return [await field.input_value() for field in await page.get_by_test_id("chapter-title").all()]


async def test_seed_user_flow_create_edit_chapters_upload_save_reload(
    stack: StackState, editor_url: str, browser: Browser, tmp_path: Path
) -> None:
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await sign_in(page, editor_url, user("flow"))
        await screenshot(page, "01-my-courses-empty")

        # Create a course: the editor opens it.
        await page.get_by_test_id("new-course-title").fill("Rust for the curious")
        await page.get_by_test_id("create-course").click()
        await expect(page.get_by_test_id("course-title")).to_have_value("Rust for the curious")

        # Edit: description and two new chapters (pending until saved), one batch.
        await page.get_by_test_id("course-description").fill("From zero to traits")
        for title in ("Intro", "Ownership"):
            await page.get_by_test_id("add-chapter").click()
            await page.get_by_test_id("chapter-title").last.fill(title)
        await expect(page.locator("[data-testid=chapter].pending-add")).to_have_count(2)
        await page.get_by_test_id("save-changes").click()
        await expect(page.locator("[data-testid=toast][data-kind=success]")).to_be_visible()
        await expect(page.locator("[data-testid=chapter].pending-add")).to_have_count(0)
        assert await chapter_titles(page) == ["Intro", "Ownership"]

        # Upload a video into the first chapter: a live progress bar, then a lesson holding it.
        await wait_live(page)
        intro = page.get_by_test_id("chapter").first
        await intro.get_by_test_id("upload-file").set_input_files(video_file(tmp_path, "welcome.mp4", 6 * 1024 * 1024))
        progress = intro.locator("[data-testid=upload-row][data-file-name='welcome.mp4']").get_by_test_id(
            "upload-progress"
        )
        await expect(progress).to_be_visible()
        await expect(progress).to_have_attribute("aria-valuenow", "100", timeout=90_000)
        lesson = intro.get_by_test_id("lesson")
        await expect(lesson).to_have_count(1, timeout=90_000)
        await expect(lesson.get_by_test_id("lesson-media")).to_contain_text("welcome.mp4")

        # One more edit through the same batch: rename the new lesson, save.
        await lesson.get_by_test_id("lesson-title").fill("Welcome aboard")
        version_before = await page.get_by_test_id("course-version").inner_text()
        await page.get_by_test_id("save-changes").click()
        await expect(page.get_by_test_id("course-version")).not_to_have_text(version_before)
        await expect(page.get_by_test_id("save-changes")).to_have_text("Save changes")
        await expect(page.get_by_test_id("save-changes")).to_be_disabled()
        await screenshot(page, "02-course-editor")

        # Reload: everything came from the server.
        await page.reload()
        await expect(page.get_by_test_id("course-title")).to_have_value("Rust for the curious")
        await expect(page.get_by_test_id("course-description")).to_have_value("From zero to traits")
        await expect(page.get_by_test_id("chapter")).to_have_count(2)
        assert await chapter_titles(page) == ["Intro", "Ownership"]
        reloaded = page.get_by_test_id("chapter").first.get_by_test_id("lesson")
        await expect(reloaded.get_by_test_id("lesson-title")).to_have_value("Welcome aboard")
        await expect(reloaded.get_by_test_id("lesson-media")).to_contain_text("welcome.mp4")

        await page.goto(f"{editor_url}/#/courses")
        await expect(page.get_by_test_id("course-card")).to_have_count(1)
        await screenshot(page, "03-my-courses")
        await page.goto(f"{editor_url}/#/media")
        await expect(page.get_by_test_id("media-item")).to_have_count(1)
        await screenshot(page, "04-media-library")
        await page.goto(f"{editor_url}/#/analytics")
        for name in ("storage", "content", "roi", "capacity"):
            await expect(page.get_by_test_id(f"dashboard-{name}").locator("h3").first).to_be_visible()
        await screenshot(page, "05-analytics")
    finally:
        await context.close()


async def test_two_tabs_share_one_socket_and_show_the_same_progress_and_lesson(
    stack: StackState, editor_url: str, browser: Browser, tmp_path: Path
) -> None:
    user_id = user("tabs")
    _api, course_id, _chapter_id = await course_with_chapter(stack, user_id, "Two tabs")
    context = await new_context(browser)
    try:
        first = await context.new_page()
        await sign_in(first, editor_url, user_id)
        second = await context.new_page()  # same browser profile: the session is shared
        await open_course(first, editor_url, course_id)
        await open_course(second, editor_url, course_id)
        await wait_live(first)
        await wait_live(second)

        async def one_socket() -> bool:
            return await realtime_connections(stack, user_id) == 1

        await until(one_socket, 20, "one realtime socket for the browser")

        # The second tab records every progress value it draws for the upload.
        await second.evaluate(
            """() => {
              window.__progress = [];
              new MutationObserver(() => {
                for (const bar of document.querySelectorAll('[data-testid=upload-progress]')) {
                  const value = Number(bar.getAttribute('aria-valuenow'));
                  if (window.__progress.at(-1) !== value) window.__progress.push(value);
                }
              }).observe(document.body, {subtree: true, childList: true, attributes: true});
            }"""
        )
        # A slow uplink for the uploading tab (Chromium's network emulation), so the upload lasts long
        # enough for the other tab to draw it in flight.
        cdp = await context.new_cdp_session(first)
        await cdp.send("Network.enable")
        await cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 4 * 1024 * 1024},
        )
        chapter = first.get_by_test_id("chapter").first
        await chapter.get_by_test_id("upload-file").set_input_files(
            video_file(tmp_path, "lecture.mp4", 16 * 1024 * 1024)
        )

        for page in (first, second):
            bar = page.locator("[data-testid=upload-row][data-file-name='lecture.mp4']").get_by_test_id(
                "upload-progress"
            )
            await expect(bar).to_have_attribute("aria-valuenow", "100", timeout=120_000)
        for page in (first, second):
            lesson = page.get_by_test_id("chapter").first.get_by_test_id("lesson")
            await expect(lesson.get_by_test_id("lesson-media")).to_contain_text("lecture.mp4", timeout=90_000)
        seen = await second.evaluate("() => window.__progress")
        assert seen and seen[-1] == 100, seen
        assert any(0 < value < 100 for value in seen), f"the second tab never drew the upload in flight: {seen}"
        await screenshot(second, "06-second-tab-after-upload")
        # Still one socket for both tabs, held by the leader.
        assert await realtime_connections(stack, user_id) == 1
        print(f"second tab's progress values: {seen}; realtime sockets for the user: 1")

        # The leader tab closes: the other takes over the lock and opens the browser's one socket.
        await first.close()
        await wait_live(second)
        await until(one_socket, 30, "the second tab's socket after the leader closed")
    finally:
        await context.close()


async def test_second_save_conflicts_rolls_back_and_shows_the_current_state(
    stack: StackState, editor_url: str, browser: Browser
) -> None:
    user_id = user("conflict")
    _api, course_id, _chapter_id = await course_with_chapter(stack, user_id, "Contested")
    context = await new_context(browser)
    try:
        first = await context.new_page()
        await sign_in(first, editor_url, user_id)
        second = await context.new_page()
        await open_course(first, editor_url, course_id)
        await open_course(second, editor_url, course_id)

        # The second tab starts editing first (its changes are based on this version) ...
        await second.get_by_test_id("chapter-title").first.fill("Second tab's title")
        await second.get_by_test_id("add-chapter").click()
        await second.get_by_test_id("chapter-title").last.fill("Second tab's chapter")
        # ... the first tab saves before it.
        await first.get_by_test_id("chapter-title").first.fill("First tab's title")
        await first.get_by_test_id("save-changes").click()
        await expect(first.locator("[data-testid=toast][data-kind=success]")).to_be_visible()

        await second.get_by_test_id("save-changes").click()
        toast = second.locator("[data-testid=toast][data-kind=error]")
        await expect(toast).to_contain_text("rolled back")
        # Rolled back to what the server holds: the first tab's save, no pending chapter.
        await expect(second.get_by_test_id("chapter")).to_have_count(1)
        await expect(second.get_by_test_id("chapter-title").first).to_have_value("First tab's title")
        await expect(second.get_by_test_id("save-changes")).to_be_disabled()
        await screenshot(second, "07-conflict-rolled-back")

        await second.reload()
        await expect(second.get_by_test_id("chapter-title").first).to_have_value("First tab's title")
        await expect(second.get_by_test_id("chapter")).to_have_count(1)
    finally:
        await context.close()


async def test_upload_completes_and_shows_while_realtime_is_stopped(
    stack: StackState, editor_url: str, browser: Browser, tmp_path: Path
) -> None:
    user_id = user("offline")
    _api, course_id, _chapter_id = await course_with_chapter(stack, user_id, "No socket")
    context = await new_context(browser)
    page = await context.new_page()
    stopped = False
    try:
        await sign_in(page, editor_url, user_id)
        await open_course(page, editor_url, course_id)
        await wait_live(page)
        chapter = page.get_by_test_id("chapter").first
        await chapter.get_by_test_id("upload-file").set_input_files(
            video_file(tmp_path, "offline.mp4", 16 * 1024 * 1024)
        )
        row = chapter.locator("[data-testid=upload-row][data-file-name='offline.mp4']")
        await expect(row).to_be_visible()
        signal_realtime(stack, signal.SIGSTOP)
        stopped = True
        status_when_stopped = await row.get_attribute("data-status")
        assert status_when_stopped != "completed", "the upload finished before realtime was stopped"

        # The heartbeat finds the silent socket; polling getUpload takes over.
        await expect(page.get_by_test_id("realtime-status")).not_to_have_attribute("data-status", "open")
        await expect(row.get_by_test_id("upload-progress")).to_have_attribute("aria-valuenow", "100", timeout=120_000)
        await expect(row).to_have_attribute("data-status", "completed", timeout=90_000)
        lesson = chapter.get_by_test_id("lesson")
        await expect(lesson.get_by_test_id("lesson-media")).to_contain_text("offline.mp4", timeout=90_000)
        await screenshot(page, "08-upload-done-with-realtime-stopped")
        print(f"upload was {status_when_stopped!r} when realtime was stopped")
    finally:
        if stopped:
            signal_realtime(stack, signal.SIGCONT)
        await context.close()
    # Realtime back: the editor reconnects by itself.
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await sign_in(page, editor_url, user_id)
        await open_course(page, editor_url, course_id)
        await wait_live(page)
    finally:
        await context.close()


async def test_deleting_a_linked_video_shows_where_it_is_used_and_what_would_be_removed(
    stack: StackState, editor_url: str, browser: Browser
) -> None:
    user_id = user("library")
    api, course_id, chapter_id = await course_with_chapter(stack, user_id, "Linked course")
    media_id = await lesson_with_video(api, course_id, chapter_id, "linked.mp4")
    await api.close()
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await sign_in(page, editor_url, user_id)
        await page.goto(f"{editor_url}/#/media")
        item = page.locator(f"[data-testid=media-item][data-media-id='{media_id}']")
        await expect(item).to_be_visible()
        await expect(item.get_by_test_id("media-usage-count")).to_have_text("1 use")

        await item.get_by_test_id("media-where-used").click()
        usage = item.get_by_test_id("media-usage")
        await expect(usage).to_have_attribute("data-count", "1")
        await expect(usage.get_by_test_id("usage-link")).to_contain_text("Linked course")

        await item.get_by_test_id("media-delete").click()
        dialog = page.get_by_test_id("delete-media-dialog")
        await expect(dialog.get_by_test_id("media-usage").get_by_test_id("usage-link")).to_contain_text("Linked course")
        impact = dialog.get_by_test_id("delete-impact")
        await expect(impact).to_have_attribute("data-removed-links", "1")
        await expect(impact.get_by_test_id("affected-course")).to_contain_text("Linked course")
        await screenshot(page, "09-delete-protection-dialog")

        # Nothing was deleted by looking: the preview is a dry run.
        await page.reload()
        await expect(item.get_by_test_id("media-usage-count")).to_have_text("1 use")

        # Delete (soft, removing the link), then restore with the link.
        await item.get_by_test_id("media-delete").click()
        await page.get_by_test_id("confirm-delete").click()
        await expect(item.get_by_test_id("media-restore")).to_be_visible()
        await expect(item.get_by_test_id("media-usage-count")).to_have_text("0 uses")
        await item.get_by_test_id("media-restore").click()
        await expect(item.get_by_test_id("media-delete")).to_be_visible()
        await expect(item.get_by_test_id("media-usage-count")).to_have_text("1 use")
    finally:
        await context.close()
