"""Course actions on the launched stack: each one's data shape and the errors it documents."""

from __future__ import annotations

import secrets
import uuid

import pytest

from ..gateway_client import ActionClient
from .shapes import CHAPTER_KEYS, COURSE_EDIT_KEYS, COURSE_KEYS, LESSON_KEYS, LESSON_MEDIA_KEYS, Shapes, has_keys
from .world import course_with_a_lesson, uploaded_media

pytestmark = pytest.mark.timeout(180)


async def test_create_course_answers_the_course(alice: ActionClient, shapes: Shapes) -> None:
    course = await alice.ok("createCourse", {"title": "  Rust  ", "description": "draft"})

    shapes.check("createCourse", course)
    has_keys(course, COURSE_KEYS, "Course")
    assert course["title"] == "Rust" and course["description"] == "draft"
    assert course["role"] == "owner" and course["deletedAt"] is None and course["version"] >= 1


async def test_create_course_refuses_a_blank_title_by_field(alice: ActionClient) -> None:
    response = await alice.raw("createCourse", {"title": "   "})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and "title" in error["fields"]


async def test_list_my_courses_pages_and_hides_deleted_ones(alice: ActionClient, shapes: Shapes) -> None:
    ids = [(await alice.ok("createCourse", {"title": f"Course {n}"}))["id"] for n in range(3)]
    await alice.ok("deleteCourse", {"courseId": ids[0]})

    first = await alice.ok("listMyCourses", {"limit": 1})
    shapes.check("listMyCourses", first)
    assert len(first["items"]) == 1 and first["nextCursor"]
    second = await alice.ok("listMyCourses", {"limit": 1, "cursor": first["nextCursor"]})
    assert len(second["items"]) == 1 and second["items"][0]["id"] != first["items"][0]["id"]
    visible = {c["id"] for c in (await alice.ok("listMyCourses", {}))["items"]}
    assert visible == set(ids[1:])
    everything = {c["id"] for c in (await alice.ok("listMyCourses", {"includeDeleted": True}))["items"]}
    assert everything == set(ids)


async def test_list_my_courses_refuses_a_limit_out_of_range(alice: ActionClient) -> None:
    error = await alice.fails("listMyCourses", {"limit": 0})

    assert error["code"] == "VALIDATION_FAILED" and "limit" in error["fields"]


async def test_get_course_edit_answers_chapters_lessons_and_their_media(alice: ActionClient, shapes: Shapes) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)
    await alice.ok(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [{"op": "setLessonMedia", "lessonId": tree.lesson_id, "mediaId": media.media_id}],
        },
    )

    edit = await alice.ok("getCourseEdit", {"courseId": tree.course_id})

    shapes.check("getCourseEdit", edit)
    has_keys(edit, COURSE_EDIT_KEYS, "CourseEdit")
    chapter = edit["chapters"][0]
    has_keys(chapter, CHAPTER_KEYS, "chapter")
    lesson = chapter["lessons"][0]
    has_keys(lesson, LESSON_KEYS, "lesson")
    assert lesson["id"] == tree.lesson_id and lesson["mediaId"] == media.media_id
    has_keys(lesson["media"], LESSON_MEDIA_KEYS, "lesson media")
    assert lesson["media"]["id"] == media.media_id and lesson["media"]["sizeBytes"] == media.media["sizeBytes"]


async def test_get_course_edit_of_an_unknown_course_is_not_found(alice: ActionClient) -> None:
    response = await alice.raw("getCourseEdit", {"courseId": str(uuid.uuid4())})

    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


async def test_get_course_edit_shows_a_deleted_course_only_when_asked(alice: ActionClient) -> None:
    course = await alice.ok("createCourse", {"title": "Gone"})
    await alice.ok("deleteCourse", {"courseId": course["id"]})

    assert (await alice.fails("getCourseEdit", {"courseId": course["id"]}))["code"] == "NOT_FOUND"
    edit = await alice.ok("getCourseEdit", {"courseId": course["id"], "includeDeleted": True})
    assert edit["deletedAt"] is not None


async def test_update_course_changes_the_patched_fields(alice: ActionClient, shapes: Shapes) -> None:
    course = await alice.ok("createCourse", {"title": "Old", "description": "keep"})

    updated = await alice.ok(
        "updateCourse", {"courseId": course["id"], "expectedVersion": course["version"], "patch": {"title": "New"}}
    )

    shapes.check("updateCourse", updated)
    assert updated["title"] == "New" and updated["description"] == "keep"
    assert updated["version"] > course["version"]


async def test_update_course_at_a_stale_version_is_a_conflict_with_the_current_version(alice: ActionClient) -> None:
    course = await alice.ok("createCourse", {"title": "Old"})
    current = await alice.ok(
        "updateCourse", {"courseId": course["id"], "expectedVersion": course["version"], "patch": {"title": "A"}}
    )

    response = await alice.raw(
        "updateCourse", {"courseId": course["id"], "expectedVersion": course["version"], "patch": {"title": "B"}}
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "CONFLICT" and error["details"]["currentVersion"] == current["version"]
    assert (await alice.ok("getCourseEdit", {"courseId": course["id"]}))["title"] == "A"


async def test_update_course_with_an_empty_patch_is_a_validation_error(alice: ActionClient) -> None:
    course = await alice.ok("createCourse", {"title": "Old"})

    error = await alice.fails(
        "updateCourse", {"courseId": course["id"], "expectedVersion": course["version"], "patch": {}}
    )

    assert error["code"] == "VALIDATION_FAILED" and error["fields"]


async def test_save_course_changes_applies_every_operation_and_maps_temp_ids(
    alice: ActionClient, shapes: Shapes
) -> None:
    tree = await course_with_a_lesson(alice)
    media = await uploaded_media(alice)

    saved = await alice.ok(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [
                {"op": "addChapter", "tempId": "two", "title": "Two"},
                {"op": "addChapter", "tempId": "three", "title": "Three", "position": 0},
                {"op": "renameChapter", "chapterId": tree.chapter_id, "title": "One, renamed"},
                {"op": "moveChapter", "chapterId": "two", "position": 0},
                {"op": "addLesson", "chapterId": "two", "tempId": "a", "title": "A", "mediaId": media.media_id},
                {"op": "addLesson", "chapterId": "two", "tempId": "b", "title": "B", "position": 0},
                {"op": "renameLesson", "lessonId": tree.lesson_id, "title": "Lesson renamed"},
                {"op": "moveLesson", "lessonId": tree.lesson_id, "chapterId": "two", "position": 1},
                {"op": "deleteLesson", "lessonId": "b"},
                {"op": "deleteChapter", "chapterId": "three"},
                {"op": "setLessonMedia", "lessonId": "a", "mediaId": None},
                {"op": "updateCourse", "patch": {"description": "saved"}},
            ],
        },
    )

    shapes.check("saveCourseChanges", saved)
    assert set(saved["idMap"]) == {"two", "three", "a", "b"}
    course = saved["course"]
    assert course["description"] == "saved" and course["version"] > tree.version
    assert [c["title"] for c in course["chapters"]] == ["Two", "One, renamed"]
    assert [c["position"] for c in course["chapters"]] == [0, 1]
    two = course["chapters"][0]
    # Two: [] -> [a] -> [b, a] -> [b, lesson, a] -> [lesson, a]
    assert [(lesson["id"], lesson["title"]) for lesson in two["lessons"]] == [
        (tree.lesson_id, "Lesson renamed"),
        (saved["idMap"]["a"], "A"),
    ]
    assert two["lessons"][1]["mediaId"] is None and two["lessons"][1]["media"] is None
    assert course["chapters"][1]["lessons"] == []
    assert course == await alice.ok("getCourseEdit", {"courseId": tree.course_id})


async def test_save_course_changes_at_a_stale_version_answers_the_current_state(alice: ActionClient) -> None:
    tree = await course_with_a_lesson(alice)
    await alice.ok(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [{"op": "renameChapter", "chapterId": tree.chapter_id, "title": "First"}],
        },
    )

    error = await alice.fails(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [{"op": "renameChapter", "chapterId": tree.chapter_id, "title": "Second"}],
        },
    )

    assert error["code"] == "CONFLICT"
    current = error["details"]["current"]
    assert current["version"] == error["details"]["currentVersion"] > tree.version
    assert current["chapters"][0]["title"] == "First"


async def test_save_course_changes_names_the_bad_operation_by_path_and_applies_nothing(alice: ActionClient) -> None:
    tree = await course_with_a_lesson(alice)

    error = await alice.fails(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [
                {"op": "renameChapter", "chapterId": tree.chapter_id, "title": "Fine"},
                {"op": "addChapter", "title": ""},
            ],
        },
    )

    assert error["code"] == "VALIDATION_FAILED"
    assert any(path.startswith("operations.1") for path in error["fields"]), error["fields"]
    edit = await alice.ok("getCourseEdit", {"courseId": tree.course_id})
    assert edit["version"] == tree.version and edit["chapters"][0]["title"] == "Chapter one"


async def test_save_course_changes_naming_an_unknown_chapter_applies_nothing(alice: ActionClient) -> None:
    tree = await course_with_a_lesson(alice)

    error = await alice.fails(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [
                {"op": "renameChapter", "chapterId": tree.chapter_id, "title": "Fine"},
                {"op": "deleteChapter", "chapterId": str(uuid.uuid4())},
            ],
        },
    )

    assert error["code"] in {"NOT_FOUND", "VALIDATION_FAILED"}
    edit = await alice.ok("getCourseEdit", {"courseId": tree.course_id})
    assert edit["version"] == tree.version and edit["chapters"][0]["title"] == "Chapter one"


async def test_a_repeated_idempotency_key_answers_the_first_result_and_changes_nothing(alice: ActionClient) -> None:
    tree = await course_with_a_lesson(alice)
    key = str(uuid.uuid4())
    body = {
        "courseId": tree.course_id,
        "expectedVersion": tree.version,
        "operations": [{"op": "addChapter", "tempId": "x", "title": "Once"}],
    }

    first = await alice.raw("saveCourseChanges", body, headers={"Idempotency-Key": key})
    again = await alice.raw("saveCourseChanges", body, headers={"Idempotency-Key": key})
    reused = await alice.raw(
        "saveCourseChanges", {**body, "operations": [{"op": "addChapter", "title": "Other"}]}, {"Idempotency-Key": key}
    )

    assert first.json()["success"] is True
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert reused.json()["error"]["code"] == "CONFLICT"
    assert reused.json()["error"]["reason"] == "idempotency.key_reused"
    edit = await alice.ok("getCourseEdit", {"courseId": tree.course_id})
    assert [c["title"] for c in edit["chapters"]] == ["Chapter one", "Once"]


async def test_delete_and_restore_course(alice: ActionClient, shapes: Shapes) -> None:
    course = await alice.ok("createCourse", {"title": "Round trip"})

    deleted = await alice.ok("deleteCourse", {"courseId": course["id"]})
    shapes.check("deleteCourse", deleted)
    assert deleted["deletedAt"] is not None
    restored = await alice.ok("restoreCourse", {"courseId": course["id"]})
    shapes.check("restoreCourse", restored)
    assert restored["deletedAt"] is None
    assert course["id"] in {c["id"] for c in (await alice.ok("listMyCourses", {}))["items"]}


async def test_delete_and_restore_of_an_unknown_course_are_not_found(alice: ActionClient) -> None:
    unknown = {"courseId": str(uuid.uuid4())}

    assert (await alice.fails("deleteCourse", unknown))["code"] == "NOT_FOUND"
    assert (await alice.fails("restoreCourse", unknown))["code"] == "NOT_FOUND"


async def test_an_oversized_body_is_payload_too_large(alice: ActionClient) -> None:
    response = await alice.raw("createCourse", {"title": "x", "description": "y" * (2 * 1024 * 1024)})

    assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_body_that_is_not_json_is_a_validation_error(alice: ActionClient) -> None:
    response = await alice.http.post(
        "/actions/createCourse",
        content=b"{not json",
        headers={"Authorization": f"Bearer {alice.token}", "Content-Type": "application/json"},
    )

    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_an_unknown_action_is_not_found(alice: ActionClient) -> None:
    response = await alice.raw(f"noSuchAction{secrets.token_hex(2)}", {})

    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


async def test_a_burst_past_the_mutation_limit_is_rate_limited_with_retry_after(alice: ActionClient) -> None:
    refused = None
    for n in range(200):  # the default mutation burst is 60 per user
        response = await alice.raw("createCourse", {"title": f"Burst {n}"})
        if response.status_code == 429:
            refused = response
            break
        assert response.json()["success"] is True, response.text

    assert refused is not None, "200 mutations in a burst were never rate limited"
    error = refused.json()["error"]
    assert error["code"] == "RATE_LIMITED" and error["details"]["retryAfterSeconds"] > 0
    assert int(refused.headers["Retry-After"]) >= 1


async def test_every_action_answer_carries_server_timing(alice: ActionClient) -> None:
    auth = {"Authorization": f"Bearer {alice.token}"}
    answers = {
        "success": await alice.raw("listMyCourses", {}),
        "validation": await alice.raw("listMyCourses", {"limit": 0}),
        "unknown action": await alice.raw("noSuchAction", {}),
        "no token": await alice.http.post("/actions/listMyCourses", json={}),
        "not JSON": await alice.http.post(
            "/actions/listMyCourses", content=b"{}", headers={**auth, "Content-Type": "text/plain"}
        ),
        "too large": await alice.raw("createCourse", {"title": "x", "description": "y" * (2 * 1024 * 1024)}),
    }

    missing = {
        label: r.status_code for label, r in answers.items() if "total;dur=" not in r.headers.get("Server-Timing", "")
    }
    assert not missing, f"answers without Server-Timing: {missing}"
    assert answers["not JSON"].status_code == 415
    assert answers["not JSON"].json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
