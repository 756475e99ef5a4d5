"""Publish state through the gateway on the launched stack: publish/unpublish with versions and
idempotency, the media-ready rule naming the lessons, the published filter, and the delete
protection of a published course."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from .gateway_client import ActionClient
from .media_files import until, upload_video

pytestmark = pytest.mark.timeout(240)


async def test_publish_state_through_the_gateway(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    alice = await ActionClient.login(gateway, f"alice-{secrets.token_hex(3)}")
    try:
        course = await alice.ok("createCourse", {"title": "Published soon"})
        assert course["published"] is False and course["publishedAt"] is None
        unknown_media = str(uuid.uuid4())
        saved = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": course["version"],
                "operations": [
                    {"op": "addChapter", "tempId": "ch", "title": "Chapter"},
                    {
                        "op": "addLesson",
                        "chapterId": "ch",
                        "tempId": "l1",
                        "title": "Waiting",
                        "mediaId": unknown_media,
                    },
                    {"op": "addLesson", "chapterId": "ch", "tempId": "l2", "title": "Text only"},
                ],
            },
        )
        version = saved["course"]["version"]
        lesson = saved["idMap"]["l1"]

        # Media nobody has registered is not ready: refused, the lesson named.
        refused = await alice.fails("publishCourse", {"courseId": course["id"], "expectedVersion": version})
        assert refused["code"] == "CONFLICT" and refused["reason"] == "course.media_not_ready"
        assert refused["details"]["lessons"] == [
            {
                "lessonId": lesson,
                "title": "Waiting",
                "chapterId": saved["idMap"]["ch"],
                "mediaId": unknown_media,
                "status": "unknown",
            }
        ]

        # Give the lesson a real, ready video instead.
        media_id = await upload_video(alice)

        saved = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": version,
                "operations": [{"op": "setLessonMedia", "lessonId": lesson, "mediaId": media_id}],
            },
        )
        version = saved["course"]["version"]
        stale = await alice.fails("publishCourse", {"courseId": course["id"], "expectedVersion": version - 1})
        assert stale["code"] == "CONFLICT" and stale["details"]["currentVersion"] == version

        # Course learns the file is ready from media's events: until then publishing is refused
        # with the lesson named as still processing (or unknown), never accepted early.
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"courseId": course["id"], "expectedVersion": version}

        async def publish() -> dict[str, Any] | None:
            response = (await alice.raw("publishCourse", body, key)).json()
            if response["success"]:
                return dict(response["data"])
            error = response["error"]
            assert error["reason"] == "course.media_not_ready", error
            assert [item["status"] for item in error["details"]["lessons"]] in (["processing"], ["unknown"])
            key["Idempotency-Key"] = str(uuid.uuid4())  # a refused key is spent: each try is a new request
            return None

        published = await until(publish, 30, "course to learn the lesson's media is ready")
        assert published["published"] is True and published["publishedAt"] is not None
        assert published["version"] == version + 1
        assert await alice.ok("publishCourse", body, key) == published  # replayed
        again = await alice.ok("publishCourse", body)  # already published: unchanged, no conflict
        assert again["version"] == published["version"] and again["publishedAt"] == published["publishedAt"]
        edit = await alice.ok("getCourseEdit", {"courseId": course["id"]})
        assert edit["published"] is True and edit["chapters"][0]["lessons"][0]["media"]["status"] == "ready"

        listed = await alice.ok("listMyCourses", {"published": True})
        assert [item["id"] for item in listed["items"]] == [course["id"]]
        assert listed["items"][0]["published"] is True and listed["items"][0]["lessonCount"] == 2
        assert (await alice.ok("listMyCourses", {"published": False}))["items"] == []

        # A published course is deleted only with force, which unpublishes it.
        protected = await alice.fails("deleteCourse", {"courseId": course["id"]})
        assert protected["code"] == "CONFLICT" and protected["reason"] == "course.published"
        current = await alice.ok("getCourseEdit", {"courseId": course["id"]})
        assert current["deletedAt"] is None and current["published"] is True
        deleted = await alice.ok("deleteCourse", {"courseId": course["id"], "force": True})
        assert deleted["deletedAt"] is not None and deleted["published"] is False
        restored = await alice.ok("restoreCourse", {"courseId": course["id"]})
        assert restored["published"] is False and restored["publishedAt"] is None

        # Unpublish at the expected version; an unpublished course answers unchanged.
        republished = await alice.ok(
            "publishCourse", {"courseId": course["id"], "expectedVersion": restored["version"]}
        )
        unpublished = await alice.ok(
            "unpublishCourse", {"courseId": course["id"], "expectedVersion": republished["version"]}
        )
        assert unpublished["published"] is False and unpublished["version"] == republished["version"] + 1
        assert (await alice.ok("unpublishCourse", {"courseId": course["id"], "expectedVersion": 1}))["version"] == (
            unpublished["version"]
        )
    finally:
        await alice.close()


async def test_publish_actions_refuse_bad_input_and_foreign_courses(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    alice = await ActionClient.login(gateway, f"alice-{secrets.token_hex(3)}")
    mallory = await ActionClient.login(gateway, f"mallory-{secrets.token_hex(3)}")
    try:
        course = await alice.ok("createCourse", {"title": "Mine"})
        missing = await alice.fails("publishCourse", {"courseId": course["id"]})
        assert missing["code"] == "VALIDATION_FAILED" and "expectedVersion" in missing["fields"]
        foreign = await mallory.fails("publishCourse", {"courseId": course["id"], "expectedVersion": course["version"]})
        assert foreign["code"] == "NOT_FOUND"
        foreign = await mallory.fails(
            "unpublishCourse", {"courseId": course["id"], "expectedVersion": course["version"]}
        )
        assert foreign["code"] == "NOT_FOUND"
        bad_filter = await alice.fails("listMyCourses", {"published": "yes"})
        assert bad_filter["code"] == "VALIDATION_FAILED" and "published" in bad_filter["fields"]
        assert (await alice.ok("getCourseEdit", {"courseId": course["id"]}))["published"] is False
    finally:
        await alice.close()
        await mallory.close()
