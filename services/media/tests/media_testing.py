"""Helpers for media's tests: identities and tokens, files made the way upload.completed makes
them, and courses in the course stand-in."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.objectstore import S3ObjectStore
from lectern_common.token_keys import SigningKey
from lectern_media.bootstrap import MediaApp
from lectern_media.library.schemas import CompletedUpload, MediaView
from media_course_stand_in import CourseStandIn

KEY = SigningKey.generate()
BUCKET = "lectern-media-tests"


def new_user() -> Identity:
    return Identity(user_id=f"user-{uuid.uuid4().hex[:10]}")


def token_for(identity: Identity) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {InternalTokenIssuer(KEY).issue(identity)}"),)


def store(app: MediaApp) -> S3ObjectStore:
    return app.object_stores(BUCKET)  # type: ignore[return-value]


async def register(
    app: MediaApp,
    owner: Identity,
    *,
    file_name: str = "intro.mp4",
    title: str | None = None,
    body: bytes = b"video-bytes",
    operation_id: str | None = None,
    course_id: str | None = None,
    chapter_id: str | None = None,
    mime_type: str = "video/mp4",
) -> MediaView:
    """A file as upload.completed makes it: bytes in the bucket, then registration."""
    op = operation_id or f"op-{uuid.uuid4().hex}"
    key = f"uploads/{owner.user_id}/{op}"
    await store(app).put_object(key, body, mime_type)
    async with app.uow() as session:
        return await app.library.register_upload(
            session,
            CompletedUpload(
                operation_id=op,
                owner_id=owner.user_id,
                file_name=file_name,
                mime_type=mime_type,
                size_bytes=len(body),
                bucket=BUCKET,
                storage_key=key,
                checksum="sha256:" + hashlib.sha256(body).hexdigest(),
                course_id=course_id,
                chapter_id=chapter_id,
                lesson_title=title,
            ),
            actor_id=owner.user_id,
        )


def course_with(
    course: CourseStandIn, owner: Identity, *, chapters: int = 1, lessons: int = 1, published: bool = False
) -> dict[str, Any]:
    """A course of ``owner`` in the stand-in, with chapters and lessons: answers their ids."""
    cid = f"course-{uuid.uuid4().hex[:8]}"
    course.add_course(cid, owner.user_id, published=published, title=f"Course {cid}")
    chs, les = [], []
    for _ in range(chapters):
        ch = f"chapter-{uuid.uuid4().hex[:8]}"
        course.add("chapter", ch, cid)
        chs.append(ch)
        for _ in range(lessons):
            le = f"lesson-{uuid.uuid4().hex[:8]}"
            course.add("lesson", le, cid)
            les.append(le)
    return {"course": cid, "chapters": chs, "lessons": les}
