"""Who may do what to an upload: the rules a verified token (access/tokens.py) is checked against.

Upload cannot ask course who may edit what (it holds no key course trusts), so the course check of
a plain tus creation is the one made when its creation token was minted for that course.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from datetime import datetime

from lectern_upload import errors
from lectern_upload.access.tokens import CREATE, UPLOAD, UploadGrant
from lectern_upload.models import UploadRow
from lectern_upload.uploads.schemas import ACTIVE, NewUpload, UploadStatus


def creation_for(grant: UploadGrant, new: NewUpload) -> NewUpload:
    """The upload a tus creation makes: only a creation token creates, and only for its course.

    An upload whose ``Upload-Metadata`` names no course is for the token's course (if any).
    The metadata may name that course (and a chapter in it) but never another one; a token that
    names no course creates uploads outside any course. The chapter is checked against the course
    again where completion adds the lesson (course's ``add_uploaded_lesson``, which also re-checks
    that the uploader may edit it).
    """
    if grant.kind != CREATE:
        raise errors.forbidden("an upload token cannot create uploads; use a creation token")
    if not new.course_id and grant.course_id:
        new = replace(new, course_id=grant.course_id)
    if grant.course_id is None:
        if new.course_id or new.chapter_id:
            raise errors.forbidden(
                "this creation token names no course: Upload-Metadata courseId/chapterId are not allowed"
            )
    elif new.course_id != grant.course_id:
        raise errors.forbidden("this creation token is for another course")
    return new


def check_token_names(grant: UploadGrant, upload_id: str) -> None:
    """An upload token names one upload: refused for any other before anything is read."""
    if grant.kind == UPLOAD and grant.upload_id != upload_id:
        raise errors.forbidden("this token is for another upload")


def authorize(grant: UploadGrant, row: UploadRow) -> None:
    """The token's own upload, or one its creation token made (compared in constant time)."""
    if grant.kind == UPLOAD:
        allowed = grant.upload_id == row.id and grant.owner_id == row.owner_id
    else:
        allowed = (
            grant.token_id is not None
            and row.creation_token_id is not None
            and hmac.compare_digest(grant.token_id, row.creation_token_id)
            and grant.owner_id == row.owner_id
        )
    if not allowed:
        raise errors.forbidden("this token does not grant access to this upload")


def check_live(row: UploadRow, now: datetime) -> None:
    """An ended upload is gone (tus: 410), and so is an active one past its expiry."""
    if row.status in (UploadStatus.CANCELLED, UploadStatus.FAILED, UploadStatus.EXPIRED):
        raise errors.gone(row.id, row.status)
    if row.status in ACTIVE and row.expires_at <= now:
        raise errors.expired(row.id)
