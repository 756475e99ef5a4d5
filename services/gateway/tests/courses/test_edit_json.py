"""The course edit's remembered JSON: only ever the JSON of the very message answered."""

from __future__ import annotations

import json
from typing import Any, cast

from lectern.course.v1 import course_pb2
from lectern.media.v1 import media_pb2
from lectern_common.identity import Identity
from lectern_gateway.actions.registry import ActionContext, EncodedData
from lectern_gateway.courses import schemas as s
from lectern_gateway.courses.edit_json import EditJsonCache, saved_changes_json
from lectern_gateway.courses.service import CourseActions, course_edit_data, encode_course_edit
from lectern_gateway.peers import CoursePeer, MediaPeer

from tests.factories import course_edit

READ_C1 = s.GetCourseEditInput.model_validate({"courseId": "c1"})


class CountingEncoder:
    def __init__(self) -> None:
        self.built = 0

    def __call__(self, edit: course_pb2.CourseEdit) -> bytes:
        self.built += 1
        return encode_course_edit(edit)


class ScriptedCourse:
    """Answers GetCourseEdit with whatever ``edit`` is now."""

    def __init__(self, edit: course_pb2.CourseEdit) -> None:
        self.edit = edit

    async def get_course_edit(self, request: Any, ctx: ActionContext) -> course_pb2.GetCourseEditResponse:
        return course_pb2.GetCourseEditResponse(course=self.edit)

    async def save_course_changes(self, request: Any, ctx: ActionContext) -> course_pb2.SaveCourseChangesResponse:
        return course_pb2.SaveCourseChangesResponse(course=self.edit, id_map={"c0": "chapter-é"})


class ScriptedMedia:
    def __init__(self) -> None:
        self.available = False

    async def batch_get_media_summaries(
        self, request: Any, ctx: ActionContext
    ) -> media_pb2.BatchGetMediaSummariesResponse:
        if not self.available:
            return media_pb2.BatchGetMediaSummariesResponse()
        item = media_pb2.MediaSummary(id="m1", file_name="a.mp4", status=media_pb2.MEDIA_STATUS_READY, size_bytes=3)
        return media_pb2.BatchGetMediaSummariesResponse(items=[item])


def ctx() -> ActionContext:
    return ActionContext(identity=Identity(user_id="user-1"), token_source=lambda _: "t", action="getCourseEdit")


def fresh(edit: course_pb2.CourseEdit) -> bytes:
    model = course_edit_data(edit)
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


def test_the_same_message_is_built_once_and_answers_what_a_fresh_build_would() -> None:
    encoder = CountingEncoder()
    cache = EditJsonCache(encoder, 1 << 20)
    first = cache.encoded(course_edit())
    again = cache.encoded(course_edit())  # an equal message, decoded anew
    assert encoder.built == 1
    assert first == again == fresh(course_edit())


def test_a_changed_course_another_role_and_another_course_each_get_their_own_json() -> None:
    encoder = CountingEncoder()
    cache = EditJsonCache(encoder, 1 << 20)
    base = course_edit()
    renamed = course_edit()
    renamed.chapters[0].title = "Two, renamed"
    bumped = course_edit(version=2)
    as_editor = course_edit()
    as_editor.course.role = course_pb2.COURSE_ROLE_EDITOR
    other = course_edit("c2")
    variants = [base, renamed, bumped, as_editor, other]
    answers = [cache.encoded(edit) for edit in variants]
    assert encoder.built == len(variants)
    assert len(set(answers)) == len(variants)
    for edit, answer in zip(variants, answers, strict=True):
        assert cache.encoded(edit) == answer == fresh(edit)
    assert json.loads(cache.encoded(as_editor))["role"] == "editor"
    assert json.loads(cache.encoded(base))["role"] == "owner"


def test_the_least_recently_used_entry_goes_first_and_the_bound_holds() -> None:
    one_entry = len(course_edit("c1").SerializeToString()) + len(fresh(course_edit("c1")))
    encoder = CountingEncoder()
    cache = EditJsonCache(encoder, 2 * one_entry + 10)
    cache.encoded(course_edit("c1"))
    cache.encoded(course_edit("c2"))
    cache.encoded(course_edit("c1"))  # c1 used last: c2 is the oldest now
    cache.encoded(course_edit("c3"))
    assert len(cache) == 2
    assert cache.size_bytes <= 2 * one_entry + 10
    built = encoder.built
    cache.encoded(course_edit("c1"))
    assert encoder.built == built
    cache.encoded(course_edit("c2"))
    assert encoder.built == built + 1


def test_an_edit_bigger_than_the_bound_is_answered_but_not_kept() -> None:
    encoder = CountingEncoder()
    cache = EditJsonCache(encoder, 16)
    assert cache.encoded(course_edit()) == fresh(course_edit())
    assert len(cache) == 0
    assert cache.size_bytes == 0


def test_the_saved_changes_json_is_what_its_data_model_encodes() -> None:
    edit = course_edit()
    edit.course.title = 'Ünïcode "quoted" \u2028'
    id_map = {"c0": "chapter-é", "l\n1": "lesson-1"}
    model = s.SaveCourseChangesData(course=course_edit_data(edit), id_map=id_map)
    expected = model.__pydantic_serializer__.to_json(model, by_alias=True)
    assert saved_changes_json(encode_course_edit(edit), id_map).json == expected


async def test_a_read_answers_the_course_as_it_is_now_not_an_earlier_one() -> None:
    course = ScriptedCourse(course_edit())
    actions = CourseActions(cast(CoursePeer, course))
    first = await actions.get_course_edit(ctx(), READ_C1)
    course.edit = course_edit(version=2)
    second = await actions.get_course_edit(ctx(), READ_C1)
    assert isinstance(first, EncodedData) and isinstance(second, EncodedData)
    assert json.loads(first.json)["version"] == 1
    assert second.json == fresh(course_edit(version=2))


async def test_a_save_fills_the_entry_the_next_read_of_that_edit_finds() -> None:
    encoder = CountingEncoder()
    course = ScriptedCourse(course_edit(version=3))
    actions = CourseActions(cast(CoursePeer, course), edit_json=EditJsonCache(encoder, 1 << 20))
    body = {"courseId": "c1", "expectedVersion": 2, "operations": [{"op": "deleteChapter", "chapterId": "ch2"}]}
    saved = await actions.save_course_changes(ctx(), s.SaveCourseChangesInput.model_validate(body))
    read = await actions.get_course_edit(ctx(), READ_C1)
    assert encoder.built == 1
    assert read.json == fresh(course_edit(version=3))
    assert json.loads(saved.json) == {"course": json.loads(read.json), "idMap": {"c0": "chapter-é"}}


async def test_media_filled_in_by_the_gateway_is_never_answered_from_an_entry_without_it() -> None:
    edit = course_edit()
    edit.chapters[1].lessons[0].ClearField("media")  # course could not join it: media was down
    media = ScriptedMedia()
    actions = CourseActions(cast(CoursePeer, ScriptedCourse(edit)), cast(MediaPeer, media))
    without = await actions.get_course_edit(ctx(), READ_C1)
    media.available = True
    filled = await actions.get_course_edit(ctx(), READ_C1)
    assert json.loads(without.json)["chapters"][0]["lessons"][0]["media"] is None
    assert json.loads(filled.json)["chapters"][0]["lessons"][0]["media"]["status"] == "ready"
