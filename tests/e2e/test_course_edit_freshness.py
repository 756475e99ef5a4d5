"""A cached editor tree never outlives the facts it shows, on the stack as `make up` launches it.

Course keeps each course's encoded tree per (course version, media stamp), and the gateway keeps
the tree's JSON per answer bytes. A media file turning ready changes a lesson's summary without
any course mutation, so only the media stamp (bumped by course's consumer of media's events) can
tell the caches the tree changed: the editor must see the file become ready at the same course
version, through media, Kafka, course and the gateway as real processes.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from lectern_common.testing.videos import make_video

from .gateway_client import ActionClient
from .media_files import media_named, until, upload_bytes

pytestmark = pytest.mark.timeout(240)


def _lesson_media(edit: dict[str, Any]) -> dict[str, Any]:
    return dict(edit["chapters"][0]["lessons"][0]["media"] or {})


async def test_the_editor_sees_a_file_turn_ready_without_a_course_change(lectern_stack: Any) -> None:
    alice = await ActionClient.login(lectern_stack.urls["gateway"], f"alice-{secrets.token_hex(3)}")
    try:
        file_name = f"fresh-{secrets.token_hex(4)}.mp4"
        await upload_bytes(alice, make_video(seconds=1), file_name=file_name)
        registered = await media_named(alice, file_name)

        course = await alice.ok("createCourse", {"title": "Fresh trees"})
        saved = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": course["version"],
                "operations": [
                    {"op": "addChapter", "tempId": "ch", "title": "Chapter"},
                    {"op": "addLesson", "chapterId": "ch", "title": "Intro", "mediaId": registered["id"]},
                ],
            },
        )
        version = saved["course"]["version"]
        first = await alice.ok("getCourseEdit", {"courseId": course["id"]})  # cached by both now
        again = await alice.ok("getCourseEdit", {"courseId": course["id"]})
        assert again == first and first["version"] == version

        async def ready() -> dict[str, Any] | None:
            edit = await alice.ok("getCourseEdit", {"courseId": course["id"]})
            return edit if _lesson_media(edit).get("status") == "ready" else None

        edit = await until(ready, 60, "the editor tree to show the file ready")
        assert edit["version"] == version, "no course mutation happened: the version stays"
        assert _lesson_media(edit)["id"] == registered["id"]
        media = await alice.ok("getMedia", {"mediaId": registered["id"]})
        assert media["status"] == "ready"
    finally:
        await alice.close()
