"""Media library actions on the launched stack, on really uploaded files: data shapes, links
through course (media's gRPC channel to course, opened inside media's running loop), deletion
protection, restore, audit."""

from __future__ import annotations

import uuid

import pytest

from ..gateway_client import ActionClient
from .shapes import LINK_KEYS, MEDIA_KEYS, Shapes, has_keys
from .waiting import until
from .world import course_with_a_lesson, uploaded_media

pytestmark = pytest.mark.timeout(180)


async def test_list_media_filters_and_pages_the_callers_files(alice: ActionClient, shapes: Shapes) -> None:
    first = await uploaded_media(alice)
    second = await uploaded_media(alice)

    listed = await alice.ok("listMedia", {})
    shapes.check("listMedia", listed)
    assert {m["id"] for m in listed["items"]} == {first.media_id, second.media_id}
    for item in listed["items"]:
        has_keys(item, MEDIA_KEYS, "Media")
        assert item["checksum"].startswith("sha256:") and item["status"] in {"processing", "ready", "failed"}
    assert first.media["checksum"] == first.payload_sha256

    found = await alice.ok("listMedia", {"query": first.media["fileName"]})
    assert [m["id"] for m in found["items"]] == [first.media_id]

    # Media probes the file after registering it, so its status moves from processing to ready:
    # filter on the state it settles in, not the one it was registered with.
    async def settled_as_ready() -> dict[str, object] | None:
        media = await alice.ok("getMedia", {"mediaId": first.media_id})
        return media if media["status"] == "ready" else None

    await until(settled_as_ready, what=f"media {first.media_id} to be ready")
    by_status = await alice.ok("listMedia", {"status": "ready"})
    assert first.media_id in {m["id"] for m in by_status["items"]}
    failed = await alice.ok("listMedia", {"status": "failed"})
    assert first.media_id not in {m["id"] for m in failed["items"]}

    page = await alice.ok("listMedia", {"limit": 1})
    assert len(page["items"]) == 1 and page["nextCursor"]
    rest = await alice.ok("listMedia", {"limit": 1, "cursor": page["nextCursor"]})
    assert {page["items"][0]["id"], rest["items"][0]["id"]} == {first.media_id, second.media_id}


async def test_list_media_refuses_an_unknown_status(alice: ActionClient) -> None:
    error = await alice.fails("listMedia", {"status": "lost"})

    assert error["code"] == "VALIDATION_FAILED" and "status" in error["fields"]


async def test_get_media_answers_the_file_with_its_links(alice: ActionClient, shapes: Shapes) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    await alice.ok("linkMedia", {"mediaId": media.media_id, "resourceType": "lesson", "resourceId": tree.lesson_id})

    got = await alice.ok("getMedia", {"mediaId": media.media_id})

    shapes.check("getMedia", got)
    has_keys(got, MEDIA_KEYS | {"links"}, "Media with links")
    assert got["usageCount"] == 1
    assert [(link["resourceType"], link["resourceId"], link["courseId"]) for link in got["links"]] == [
        ("lesson", tree.lesson_id, tree.course_id)
    ]


async def test_get_media_of_an_unknown_file_is_not_found(alice: ActionClient) -> None:
    response = await alice.raw("getMedia", {"mediaId": str(uuid.uuid4())})

    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


async def test_update_media_renames_at_the_read_version(alice: ActionClient, shapes: Shapes) -> None:
    media = await uploaded_media(alice)

    renamed = await alice.ok(
        "updateMedia",
        {"mediaId": media.media_id, "expectedVersion": media.media["version"], "patch": {"title": "Intro"}},
    )

    shapes.check("updateMedia", renamed)
    assert renamed["title"] == "Intro" and renamed["version"] > media.media["version"]
    stale = await alice.fails(
        "updateMedia", {"mediaId": media.media_id, "expectedVersion": media.media["version"], "patch": {"title": "X"}}
    )
    assert stale["code"] == "CONFLICT" and stale["details"]["currentVersion"] == renamed["version"]
    empty = await alice.fails("updateMedia", {"mediaId": media.media_id, "expectedVersion": 1, "patch": {}})
    assert empty["code"] == "VALIDATION_FAILED"


async def test_link_media_to_a_course_a_chapter_and_a_lesson_counts_every_use(
    alice: ActionClient, shapes: Shapes
) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)

    links = []
    for resource_type, resource_id in (
        ("course", tree.course_id),
        ("chapter", tree.chapter_id),
        ("lesson", tree.lesson_id),
    ):
        link = await alice.ok(
            "linkMedia", {"mediaId": media.media_id, "resourceType": resource_type, "resourceId": resource_id}
        )
        shapes.check("linkMedia", link)
        has_keys(link, LINK_KEYS, "Link")
        assert (link["resourceType"], link["resourceId"], link["courseId"]) == (
            resource_type,
            resource_id,
            tree.course_id,
        )
        links.append(link)

    usage = await alice.ok("getMediaUsage", {"mediaId": media.media_id})
    shapes.check("getMediaUsage", usage)
    assert usage["count"] == 3
    assert {(u["resourceType"], u["resourceId"]) for u in usage["links"]} == {
        (link["resourceType"], link["resourceId"]) for link in links
    }
    assert (await alice.ok("getMedia", {"mediaId": media.media_id}))["usageCount"] == 3


async def test_link_media_to_an_unknown_resource_is_not_found(alice: ActionClient) -> None:
    media = await uploaded_media(alice)

    error = await alice.fails(
        "linkMedia", {"mediaId": media.media_id, "resourceType": "lesson", "resourceId": str(uuid.uuid4())}
    )

    assert error["code"] == "NOT_FOUND"
    assert (await alice.ok("getMediaUsage", {"mediaId": media.media_id}))["count"] == 0


async def test_link_media_refuses_an_unknown_resource_type(alice: ActionClient) -> None:
    error = await alice.fails("linkMedia", {"mediaId": str(uuid.uuid4()), "resourceType": "video", "resourceId": "x"})

    assert error["code"] == "VALIDATION_FAILED" and "resourceType" in error["fields"]


async def test_unlink_media_removes_one_link(alice: ActionClient, shapes: Shapes) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    target = {"mediaId": media.media_id, "resourceType": "chapter", "resourceId": tree.chapter_id}
    await alice.ok("linkMedia", target)

    removed = await alice.ok("unlinkMedia", target)

    shapes.check("unlinkMedia", removed)
    assert removed == {"removed": True}
    assert (await alice.ok("getMediaUsage", {"mediaId": media.media_id}))["count"] == 0
    again = await alice.raw("unlinkMedia", target)
    envelope = again.json()
    assert envelope == {"success": True, "data": {"removed": False}} or envelope["error"]["code"] == "NOT_FOUND"


async def test_delete_media_is_protected_by_its_links(alice: ActionClient, shapes: Shapes) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    await alice.ok("linkMedia", {"mediaId": media.media_id, "resourceType": "lesson", "resourceId": tree.lesson_id})

    preview = await alice.ok("deleteMedia", {"mediaId": media.media_id, "mode": "hard", "dryRun": True})
    shapes.check("deleteMedia", preview)
    assert preview["dryRun"] is True and len(preview["removedLinks"]) == 1
    assert [c["courseId"] for c in preview["affectedCourses"]] == [tree.course_id]
    assert preview["affectedCourses"][0]["published"] is False
    assert preview["bytesReclaimed"] == media.media["sizeBytes"]

    for body in ({"mode": "hard"}, {"mode": "soft"}, {"mode": "hard", "force": True}):
        response = await alice.raw("deleteMedia", {"mediaId": media.media_id, **body})
        assert response.status_code == 409, body
        error = response.json()["error"]
        assert error["code"] == "HAS_DEPENDENCIES", body
        assert error["details"]["linkCount"] == 1 and error["details"]["truncated"] is False
        assert error["details"]["links"][0]["resourceId"] == tree.lesson_id
    assert (await alice.ok("getMediaUsage", {"mediaId": media.media_id}))["count"] == 1


async def test_soft_delete_with_force_snapshots_links_and_restore_brings_them_back(
    alice: ActionClient, shapes: Shapes
) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    for resource_type, resource_id in (("lesson", tree.lesson_id), ("chapter", tree.chapter_id)):
        await alice.ok(
            "linkMedia", {"mediaId": media.media_id, "resourceType": resource_type, "resourceId": resource_id}
        )

    deleted = await alice.ok("deleteMedia", {"mediaId": media.media_id, "mode": "soft", "force": True})
    assert deleted["dryRun"] is False and deleted["media"]["deletedAt"] is not None
    assert len(deleted["removedLinks"]) == 2
    assert (await alice.ok("getMediaUsage", {"mediaId": media.media_id}))["count"] == 0
    assert media.media_id not in {m["id"] for m in (await alice.ok("listMedia", {}))["items"]}
    assert media.media_id in {m["id"] for m in (await alice.ok("listMedia", {"includeDeleted": True}))["items"]}

    restored = await alice.ok("restoreMedia", {"mediaId": media.media_id, "restoreLinks": True})
    shapes.check("restoreMedia", restored)
    assert restored["media"]["deletedAt"] is None
    assert {link["resourceId"] for link in restored["restoredLinks"]} == {tree.lesson_id, tree.chapter_id}
    assert restored["skippedLinks"] == []
    assert (await alice.ok("getMediaUsage", {"mediaId": media.media_id}))["count"] == 2


async def test_restore_media_skips_links_whose_target_is_gone(alice: ActionClient) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    await alice.ok("linkMedia", {"mediaId": media.media_id, "resourceType": "lesson", "resourceId": tree.lesson_id})
    await alice.ok("linkMedia", {"mediaId": media.media_id, "resourceType": "course", "resourceId": tree.course_id})
    await alice.ok("deleteMedia", {"mediaId": media.media_id, "mode": "soft", "force": True})
    await alice.ok(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [{"op": "deleteLesson", "lessonId": tree.lesson_id}],
        },
    )

    restored = await alice.ok("restoreMedia", {"mediaId": media.media_id, "restoreLinks": True})

    assert [link["resourceId"] for link in restored["restoredLinks"]] == [tree.course_id]
    assert [s["link"]["resourceId"] for s in restored["skippedLinks"]] == [tree.lesson_id]
    assert all(s["reason"] for s in restored["skippedLinks"])


async def test_restore_media_without_links_leaves_them_out(alice: ActionClient) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    await alice.ok("linkMedia", {"mediaId": media.media_id, "resourceType": "course", "resourceId": tree.course_id})
    await alice.ok("deleteMedia", {"mediaId": media.media_id, "mode": "soft", "force": True})

    restored = await alice.ok("restoreMedia", {"mediaId": media.media_id})

    assert restored["media"]["deletedAt"] is None and restored["restoredLinks"] == []
    assert (await alice.ok("getMediaUsage", {"mediaId": media.media_id}))["count"] == 0


async def test_hard_delete_without_links_reclaims_the_bytes(alice: ActionClient) -> None:
    media = await uploaded_media(alice)

    deleted = await alice.ok("deleteMedia", {"mediaId": media.media_id, "mode": "hard"})

    assert deleted["bytesReclaimed"] == media.media["sizeBytes"] and deleted["dryRun"] is False
    assert (await alice.fails("getMedia", {"mediaId": media.media_id}))["code"] == "NOT_FOUND"
    assert (await alice.fails("restoreMedia", {"mediaId": media.media_id}))["code"] == "NOT_FOUND"


async def test_deleting_a_chapter_removes_its_media_links(alice: ActionClient) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    await alice.ok("linkMedia", {"mediaId": media.media_id, "resourceType": "chapter", "resourceId": tree.chapter_id})
    await alice.ok(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [{"op": "deleteChapter", "chapterId": tree.chapter_id}],
        },
    )

    async def unlinked() -> bool:
        return (await alice.ok("getMediaUsage", {"mediaId": media.media_id}))["count"] == 0

    await until(unlinked, what="media to drop the deleted chapter's link (course event)")


async def test_get_media_audit_tells_each_change(alice: ActionClient, shapes: Shapes) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    await alice.ok("linkMedia", {"mediaId": media.media_id, "resourceType": "course", "resourceId": tree.course_id})
    await alice.ok(
        "updateMedia", {"mediaId": media.media_id, "expectedVersion": media.media["version"], "patch": {"title": "T"}}
    )

    await alice.ok("deleteMedia", {"mediaId": media.media_id, "mode": "soft", "force": True})

    audit = await alice.ok("getMediaAudit", {"mediaId": media.media_id})

    shapes.check("getMediaAudit", audit)
    assert len(audit["items"]) >= 4
    soft_delete = next(item for item in audit["items"] if item["action"] == "soft_delete")
    # Counts are integers in JSON (details travel as a protobuf Struct, whose numbers are doubles).
    assert soft_delete["details"]["removedLinks"] == 1 and type(soft_delete["details"]["removedLinks"]) is int
    assert type(soft_delete["details"]["courses"][0]["linkCount"]) is int
    assert all(item["actor"] and item["at"] and item["action"] for item in audit["items"])
    page = await alice.ok("getMediaAudit", {"mediaId": media.media_id, "limit": 1})
    assert len(page["items"]) == 1 and page["nextCursor"]
    rest = await alice.ok("getMediaAudit", {"mediaId": media.media_id, "cursor": page["nextCursor"]})
    assert len(rest["items"]) == len(audit["items"]) - 1
    assert (await alice.fails("getMediaAudit", {"mediaId": str(uuid.uuid4())}))["code"] == "NOT_FOUND"
