"""Who may create through tus: a creation token, for the course it names and no other."""

from __future__ import annotations

import httpx
from upload_testing import TUS, Running, meta


async def test_tus_metadata_cannot_aim_an_upload_at_a_course_its_token_does_not_name(running: Running) -> None:
    """Issue 12 item 5: ``courseId`` in Upload-Metadata once went unchecked, so progress, completion
    and a new lesson could land in another user's course."""
    untargeted = running.app.tokens.issue_creation_token(owner_id="u-aim")
    for_course_a = running.app.tokens.issue_creation_token(owner_id="u-aim", course_id="course-a")
    base = {"Upload-Length": "10"}
    async with httpx.AsyncClient() as http:
        attempts = [
            (untargeted, meta(filename="a.mp4", filetype="video/mp4", courseId="victims-course")),
            (untargeted, meta(filename="a.mp4", filetype="video/mp4", chapterId="victims-chapter")),
            (for_course_a, meta(filename="a.mp4", filetype="video/mp4", courseId="victims-course")),
        ]
        for token, metadata in attempts:
            response = await http.post(
                running.tus_url,
                headers={**TUS, **base, "Authorization": f"Bearer {token}", "Upload-Metadata": metadata},
            )
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "upload.forbidden"
        assert await running.app.service.list("u-aim", course_id=None, status=None) == []

        allowed = await http.post(
            running.tus_url,
            headers={
                **TUS,
                **base,
                "Authorization": f"Bearer {for_course_a}",
                "Upload-Metadata": meta(filename="a.mp4", filetype="video/mp4", chapterId="ch-1"),
            },
        )
        assert allowed.status_code == 201, allowed.text
    [created] = await running.app.service.list("u-aim", course_id=None, status=None)
    assert (created.course_id, created.chapter_id) == ("course-a", "ch-1")
