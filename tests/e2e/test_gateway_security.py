"""Every action, on the real stack: another user's ids answer NOT_FOUND/FORBIDDEN (never content),
and no token answers UNAUTHENTICATED."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from .gateway_client import ActionClient

pytestmark = pytest.mark.timeout(180)

HIDDEN = {"NOT_FOUND", "FORBIDDEN"}


async def _alice_world(alice: ActionClient) -> dict[str, str]:
    """A course with a chapter and a lesson, and an upload into it: ids another user must not reach."""
    course = await alice.ok("createCourse", {"title": "Private"})
    saved = await alice.ok(
        "saveCourseChanges",
        {
            "courseId": course["id"],
            "expectedVersion": course["version"],
            "operations": [
                {"op": "addChapter", "tempId": "ch", "title": "One"},
                {"op": "addLesson", "chapterId": "ch", "tempId": "le", "title": "Hello"},
            ],
        },
    )
    upload = await alice.ok(
        "startUpload",
        {"fileName": "a.mp4", "sizeBytes": 1000, "mimeType": "video/mp4", "courseId": course["id"]},
    )
    return {
        "course": course["id"],
        "version": str(saved["course"]["version"]),
        "chapter": saved["idMap"]["ch"],
        "lesson": saved["idMap"]["le"],
        "operation": upload["operationId"],
    }


def _attacks(ids: dict[str, str], media_id: str) -> dict[str, dict[str, Any]]:
    """Each action aimed at alice's ids (media: a media id alice may own, or a made-up one)."""
    course, version = ids["course"], int(ids["version"])
    return {
        "getCourseEdit": {"courseId": course},
        "updateCourse": {"courseId": course, "expectedVersion": version, "patch": {"title": "mine"}},
        "saveCourseChanges": {
            "courseId": course,
            "expectedVersion": version,
            "operations": [{"op": "renameChapter", "chapterId": ids["chapter"], "title": "mine"}],
        },
        "deleteCourse": {"courseId": course},
        "restoreCourse": {"courseId": course},
        "publishCourse": {"courseId": course, "expectedVersion": 1},
        "unpublishCourse": {"courseId": course, "expectedVersion": 1},
        "getMedia": {"mediaId": media_id},
        "updateMedia": {"mediaId": media_id, "expectedVersion": 1, "patch": {"title": "mine"}},
        "getMediaUsage": {"mediaId": media_id},
        "linkMedia": {"mediaId": media_id, "resourceType": "lesson", "resourceId": ids["lesson"]},
        "unlinkMedia": {"mediaId": media_id, "resourceType": "lesson", "resourceId": ids["lesson"]},
        "deleteMedia": {"mediaId": media_id, "mode": "soft", "force": True},
        "restoreMedia": {"mediaId": media_id},
        "getMediaAudit": {"mediaId": media_id},
        "startUpload": {
            "fileName": "b.mp4",
            "sizeBytes": 1000,
            "mimeType": "video/mp4",
            "courseId": course,
            "chapterId": ids["chapter"],
        },
        "getUpload": {"operationId": ids["operation"]},
        "cancelUpload": {"operationId": ids["operation"]},
        "resumeUpload": {"operationId": ids["operation"]},
        "getRealtimeToken": {"courseIds": [course]},
        "getAnalyticsDashboard": {
            "dashboard": "content",
            "from": "2026-06-01T00:00:00Z",
            "to": "2027-01-01T00:00:00Z",
            "courseId": course,
        },
    }


# Actions that take none of another user's ids: checked by what they answer instead.
_LISTINGS = {"createCourse", "listMyCourses", "listMedia", "listUploads", "recordEngagement"}


async def test_another_users_ids_are_not_found_or_forbidden(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    alice = await ActionClient.login(gateway, f"alice-{secrets.token_hex(3)}")
    mallory = await ActionClient.login(gateway, f"mallory-{secrets.token_hex(3)}")
    try:
        ids = await _alice_world(alice)
        media = await alice.ok("listMedia", {})
        media_id = media["items"][0]["id"] if media["items"] else f"m-{secrets.token_hex(8)}"
        attacks = _attacks(ids, media_id)
        document = (await alice.http.get("/openapi.json")).json()
        every_action = {path.removeprefix("/actions/") for path in document["paths"] if path.startswith("/actions/")}
        assert every_action == set(attacks) | _LISTINGS, "a new action needs a line in this test"

        leaks = {}
        for name, body in attacks.items():
            error = await mallory.raw(name, body)
            envelope = error.json()
            if envelope["success"] or envelope["error"]["code"] not in HIDDEN:
                leaks[name] = envelope
        assert not leaks, leaks

        # Listings show mallory nothing of alice's.
        assert ids["course"] not in {c["id"] for c in (await mallory.ok("listMyCourses", {}))["items"]}
        assert media_id not in {m["id"] for m in (await mallory.ok("listMedia", {}))["items"]}
        assert ids["operation"] not in {u["operationId"] for u in (await mallory.ok("listUploads", {}))["items"]}
        # And alice's course is untouched.
        edit = await alice.ok("getCourseEdit", {"courseId": ids["course"]})
        assert edit["deletedAt"] is None and edit["chapters"][0]["title"] == "One"
    finally:
        await alice.close()
        await mallory.close()


async def test_every_action_without_a_token_is_unauthenticated(lectern_stack: Any) -> None:
    anonymous = ActionClient(lectern_stack.urls["gateway"])
    try:
        document = (await anonymous.http.get("/openapi.json")).json()
        names = [path.removeprefix("/actions/") for path in document["paths"] if path.startswith("/actions/")]
        assert len(names) >= 23
        for name in names:
            response = await anonymous.raw(name, {})
            assert response.status_code == 401, name
            assert response.json()["error"]["code"] == "UNAUTHENTICATED", name
    finally:
        await anonymous.close()
