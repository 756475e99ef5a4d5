"""The contract suite's fixtures: one launched stack (the session's ``lectern_stack``, the same
launcher ``make up`` runs) shared by every test here, and users and resources made through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from ..gateway_client import ActionClient
from .shapes import Shapes
from .world import CourseTree, UploadedMedia, course_with_a_lesson, login, start_upload, tus_patch, uploaded_media


@pytest.fixture(scope="session")
def gateway(lectern_stack: Any) -> str:
    return str(lectern_stack.urls["gateway"])


@pytest.fixture(scope="session")
def shapes(gateway: str) -> Shapes:
    return Shapes(httpx.get(f"{gateway}/openapi.json", timeout=30).json())


@pytest_asyncio.fixture(loop_scope="session")
async def alice(gateway: str) -> AsyncIterator[ActionClient]:
    """A fresh user per test: nothing another test did is visible to her."""
    client = await login(gateway, "alice")
    yield client
    await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def mallory(gateway: str) -> AsyncIterator[ActionClient]:
    """A second user, who must reach nothing of alice's."""
    client = await login(gateway, "mallory")
    yield client
    await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def anonymous(gateway: str) -> AsyncIterator[ActionClient]:
    client = ActionClient(gateway)
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def victim(gateway: str) -> AsyncIterator[ActionClient]:
    """The owner of :func:`victim_world` (session-wide: only others' attempts touch it)."""
    client = await login(gateway, "victim")
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def victim_world(victim: ActionClient) -> dict[str, Any]:
    """Real resources of one user: a course with a chapter and a lesson, a really uploaded media
    file linked to the lesson, and an upload in progress (half its bytes sent)."""
    tree: CourseTree = await course_with_a_lesson(victim, "Victim's course")
    media: UploadedMedia = await uploaded_media(victim)
    await victim.ok("linkMedia", {"mediaId": media.media_id, "resourceType": "lesson", "resourceId": tree.lesson_id})
    pending = await start_upload(victim, 1000, courseId=tree.course_id)
    sent = await tus_patch(pending["uploadUrl"], pending["uploadToken"], 0, b"x" * 500)
    assert sent.status_code == 204, sent.text
    return {"tree": tree, "media": media, "upload": pending}
