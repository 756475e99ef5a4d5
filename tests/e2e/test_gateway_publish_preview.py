"""The media delete preview and audit tell whether the affected courses are published, through
the gateway on the launched stack (media asks course over gRPC for both)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from .gateway_client import ActionClient
from .media_files import until, upload_video

pytestmark = pytest.mark.timeout(240)


async def test_delete_preview_and_audit_say_the_course_is_published(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    alice = await ActionClient.login(gateway, f"alice-{secrets.token_hex(3)}")
    try:
        media_id = await upload_video(alice)
        course = await alice.ok("createCourse", {"title": "On air"})
        saved = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": course["version"],
                "operations": [
                    {"op": "addChapter", "tempId": "ch", "title": "Chapter"},
                    {"op": "addLesson", "chapterId": "ch", "title": "Lesson", "mediaId": media_id},
                ],
            },
        )
        body = {"courseId": course["id"], "expectedVersion": saved["course"]["version"]}

        async def published() -> bool:
            response = (await alice.raw("publishCourse", body)).json()
            return bool(response["success"])

        await until(published, 30, "the course to publish once its media is ready")

        async def linked() -> bool:
            usage = await alice.ok("getMediaUsage", {"mediaId": media_id})
            return bool(usage["count"] == 1)

        await until(linked, 30, "media to learn of the lesson's link")
        expected = [{"courseId": course["id"], "title": "On air", "published": True, "linkCount": 1}]
        preview = await alice.ok("deleteMedia", {"mediaId": media_id, "mode": "soft", "force": True, "dryRun": True})
        assert preview["dryRun"] is True and preview["affectedCourses"] == expected
        deleted = await alice.ok("deleteMedia", {"mediaId": media_id, "mode": "soft", "force": True})
        assert deleted["affectedCourses"] == expected
        audit = await alice.ok("getMediaAudit", {"mediaId": media_id})
        soft_delete = next(item for item in audit["items"] if item["action"] == "soft_delete")
        assert soft_delete["details"]["courses"] == expected
    finally:
        await alice.close()
