"""Which durable event makes which browser message, on which channel (no I/O)."""

from __future__ import annotations

from google.protobuf.message import Message
from lectern.events.v1 import course_events_pb2, media_events_pb2, upload_events_pb2
from lectern_common.events import COURSE_TOPIC, MEDIA_TOPIC, UPLOAD_TOPIC, build_envelope, decode_event
from lectern_realtime.events.service import EventTranslator, Outgoing

translator = EventTranslator(upload_topic=UPLOAD_TOPIC, media_topic=MEDIA_TOPIC, course_topic=COURSE_TOPIC)


def translate(topic: str, event_type: str, payload: Message, aggregate_id: str = "agg") -> list[Outgoing]:
    envelope = build_envelope(
        event_type=event_type, aggregate_id=aggregate_id, aggregate_version=1, actor_id="u1", payload=payload
    )
    return translator.messages_for(topic, decode_event(envelope.SerializeToString()))


def test_a_failed_upload_with_a_course_goes_to_the_course_channel():
    payload = upload_events_pb2.UploadChanged(operation_id="op1", owner_id="u1", course_id="c1", error="bad checksum")
    assert translate(UPLOAD_TOPIC, "upload.failed", payload) == [
        Outgoing(
            "course:c1",
            {
                "type": "upload-failed",
                "operationId": "op1",
                "courseId": "c1",
                "data": {"error": "bad checksum", "status": "failed"},
            },
        )
    ]


def test_an_expired_or_cancelled_upload_without_a_course_goes_to_the_user_channel():
    for event_type, error in [("upload.expired", "upload expired"), ("upload.cancelled", "upload cancelled")]:
        [out] = translate(UPLOAD_TOPIC, event_type, upload_events_pb2.UploadChanged(operation_id="op1", owner_id="u1"))
        assert out.channel == "user:u1"
        assert out.message["data"] == {"error": error, "status": event_type.removeprefix("upload.")}


def test_created_and_completed_uploads_say_nothing():
    for event_type in ("upload.created", "upload.completed"):
        assert translate(UPLOAD_TOPIC, event_type, upload_events_pb2.UploadChanged(operation_id="op1")) == []


def test_a_ready_file_from_an_upload_without_a_chapter_completes_the_upload():
    payload = media_events_pb2.MediaFileChanged(
        media_id="m1", owner_id="u1", status="ready", upload_operation_id="op1", course_id="c1"
    )
    assert translate(MEDIA_TOPIC, "media.file.ready", payload)[1:] == [
        Outgoing(
            "course:c1",
            {"type": "upload-complete", "operationId": "op1", "courseId": "c1", "data": {"mediaId": "m1"}},
        )
    ]
    no_course = media_events_pb2.MediaFileChanged(media_id="m1", owner_id="u1", upload_operation_id="op1")
    assert {out.channel for out in translate(MEDIA_TOPIC, "media.file.ready", no_course)} == {"user:u1"}


def test_a_ready_file_headed_for_a_chapter_waits_for_the_lesson():
    payload = media_events_pb2.MediaFileChanged(
        media_id="m1", owner_id="u1", upload_operation_id="op1", course_id="c1", chapter_id="ch1"
    )
    # Only media-ready: course's course.lesson.added says upload-complete once the lesson exists.
    assert [out.message["type"] for out in translate(MEDIA_TOPIC, "media.file.ready", payload)] == ["media-ready"]


def test_probing_verdicts_go_to_every_course_the_file_is_in():
    ready = media_events_pb2.MediaFileChanged(
        media_id="m1",
        owner_id="u1",
        status="ready",
        file_name="talk.mp4",
        duration_seconds=12.5,
        upload_operation_id="op1",
        course_id="c1",
        chapter_id="ch1",
        course_ids=["c1", "c2"],
    )
    data = {"mediaId": "m1", "status": "ready", "fileName": "talk.mp4", "durationSeconds": 12.5}
    assert translate(MEDIA_TOPIC, "media.file.ready", ready) == [
        Outgoing("course:c1", {"type": "media-ready", "courseId": "c1", "data": data}),
        Outgoing("course:c2", {"type": "media-ready", "courseId": "c2", "data": data}),
    ]
    failed = media_events_pb2.MediaFileChanged(
        media_id="m2",
        owner_id="u1",
        status="failed",
        file_name="x.mp4",
        error="this file is damaged",
        course_ids=["c1"],
    )
    assert translate(MEDIA_TOPIC, "media.file.failed", failed) == [
        Outgoing(
            "course:c1",
            {
                "type": "media-failed",
                "courseId": "c1",
                "data": {"mediaId": "m2", "status": "failed", "fileName": "x.mp4", "error": "this file is damaged"},
            },
        )
    ]
    lonely = media_events_pb2.MediaFileChanged(media_id="m3", owner_id="u9", status="failed", error="not a video")
    [out] = translate(MEDIA_TOPIC, "media.file.failed", lonely)
    assert out.channel == "user:u9" and out.message["type"] == "media-failed"


def test_link_and_lifecycle_changes_invalidate_the_video_list():
    link = media_events_pb2.MediaLinkChanged(media_id="m1", owner_id="u1", course_id="c1", resource_type="lesson")
    assert translate(MEDIA_TOPIC, "media.link.added", link) == [
        Outgoing("course:c1", {"type": "invalidate", "courseId": "c1", "data": {"resources": ["videos"]}})
    ]
    lifecycle = media_events_pb2.MediaFileLifecycleChanged(media_id="m1", owner_id="u1", course_ids=["c1", "c2"])
    assert [o.channel for o in translate(MEDIA_TOPIC, "media.file.soft_deleted", lifecycle)] == [
        "user:u1",
        "course:c1",
        "course:c2",
    ]


def test_a_lesson_added_from_an_upload_completes_it_and_refreshes_both_lists():
    payload = course_events_pb2.LessonChanged(
        course_id="c1", chapter_id="ch1", lesson_id="l1", media_id="m1", upload_operation_id="op1", owner_id="u1"
    )
    assert translate(COURSE_TOPIC, "course.lesson.added", payload, aggregate_id="c1") == [
        Outgoing(
            "course:c1",
            {
                "type": "upload-complete",
                "courseId": "c1",
                "operationId": "op1",
                "data": {"mediaId": "m1", "lessonId": "l1"},
            },
        ),
        Outgoing("course:c1", {"type": "invalidate", "courseId": "c1", "data": {"resources": ["videos", "chapters"]}}),
    ]


def test_other_course_structure_events_invalidate_the_chapter_list():
    cases = [
        ("course.chapter.renamed", course_events_pb2.ChapterChanged(course_id="c1", chapter_id="ch1")),
        ("course.chapter.removed", course_events_pb2.ChapterRemoved(course_id="c1", chapter_id="ch1")),
        ("course.lesson.added", course_events_pb2.LessonChanged(course_id="c1", lesson_id="l1")),
        ("course.lesson.removed", course_events_pb2.LessonRemoved(course_id="c1", lesson_id="l1")),
        ("course.some_future_event", course_events_pb2.CourseChanged(course_id="c1")),
    ]
    for event_type, payload in cases:
        assert translate(COURSE_TOPIC, event_type, payload, aggregate_id="c1") == [
            Outgoing("course:c1", {"type": "invalidate", "courseId": "c1", "data": {"resources": ["chapters"]}})
        ], event_type
