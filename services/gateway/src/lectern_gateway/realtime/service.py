"""``getRealtimeToken``: signs the user and the courses they may watch."""

from __future__ import annotations

import asyncio

from lectern.course.v1 import course_pb2
from lectern_common.realtime_tokens import RealtimeTokenIssuer

from lectern_gateway.actions.registry import Action, ActionContext
from lectern_gateway.peers import CoursePeer
from lectern_gateway.realtime import schemas as s


class RealtimeActions:
    def __init__(self, course: CoursePeer, issuer: RealtimeTokenIssuer, *, public_url: str, max_courses: int) -> None:
        self._course = course
        self._issuer = issuer
        self._url = public_url
        self._max_courses = max_courses

    async def get_realtime_token(self, ctx: ActionContext, data: s.RealtimeTokenInput) -> s.RealtimeToken:
        """A token for the caller's own channel plus the named courses (each must be theirs to edit:
        another user's course answers NOT_FOUND, like every other action)."""
        if data.course_ids is not None:
            course_ids = sorted(set(data.course_ids))
            await asyncio.gather(
                *(
                    self._course.check_course_access(course_pb2.CheckCourseAccessRequest(course_id=cid), ctx)
                    for cid in course_ids
                )
            )
        else:
            response = await self._course.list_my_courses(
                course_pb2.ListMyCoursesRequest(limit=min(self._max_courses, 100)), ctx
            )
            course_ids = sorted(item.course.id for item in response.items)
        issued = self._issuer.issue(ctx.identity.user_id, course_ids)
        return s.RealtimeToken(url=self._url, token=issued.token, expires_at=issued.expires_at, course_ids=course_ids)

    def actions(self) -> list[Action]:
        return [
            Action(
                "getRealtimeToken",
                s.RealtimeTokenInput,
                s.RealtimeToken,
                self.get_realtime_token,
                False,
                "A token for the realtime WebSocket: the caller's channel and the courses they may watch.",
                "realtime",
            )
        ]
