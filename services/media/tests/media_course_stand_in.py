"""A stand-in for the course service, for media's tests only.

The real course service is written concurrently by another team, so these tests run a tiny but
real grpc.aio ``CourseService`` of their own, in-process, behind lectern_common's GrpcServer (the
same token verification and error mapping as every service). It answers ``ResolveResources`` from
a dict the test fills; every other RPC is UNIMPLEMENTED. Media talks to it through its production
client (GrpcCourseDirectory) over a real channel, so the wire contract is exercised.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import grpc
from lectern.course.v1 import course_pb2, course_pb2_grpc
from lectern_common.grpc_server import GrpcServer
from lectern_common.identity import InternalTokenVerifier, current_identity
from lectern_common.token_keys import VerifyingKeys

_TYPES = {
    course_pb2.RESOURCE_TYPE_COURSE: "course",
    course_pb2.RESOURCE_TYPE_CHAPTER: "chapter",
    course_pb2.RESOURCE_TYPE_LESSON: "lesson",
}


@dataclass
class Resource:
    course_id: str
    editors: set[str]
    published: bool = False
    title: str = ""
    exists: bool = True


@dataclass
class CourseStandIn(course_pb2_grpc.CourseServiceServicer):
    """``resources[(type, id)]``: what course would answer. ``calls`` counts ResolveResources."""

    resources: dict[tuple[str, str], Resource] = field(default_factory=dict)
    calls: int = 0
    callers: list[str] = field(default_factory=list)

    def add_course(self, course_id: str, owner: str, *, published: bool = False, title: str = "") -> None:
        self.resources[("course", course_id)] = Resource(course_id, {owner}, published, title or course_id)

    def add(self, kind: str, resource_id: str, course_id: str) -> None:
        course = self.resources[("course", course_id)]
        self.resources[(kind, resource_id)] = Resource(course_id, course.editors, course.published, course.title)

    def delete(self, kind: str, resource_id: str) -> None:
        self.resources[(kind, resource_id)].exists = False

    async def ResolveResources(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls += 1
        identity = current_identity.get()
        assert identity is not None
        self.callers.append(identity.user_id)
        answers = []
        for ref in request.refs:
            found = self.resources.get((_TYPES.get(ref.resource_type, "?"), ref.resource_id))
            visible = found is not None and found.exists and (identity.user_id in found.editors or identity.is_service)
            answers.append(
                course_pb2.ResolvedResource(
                    ref=ref,
                    exists=visible,
                    course_id=found.course_id if visible and found else "",
                    can_edit=visible,
                    course_published=bool(visible and found and found.published),
                    course_title=found.title if visible and found else "",
                )
            )
        return course_pb2.ResolveResourcesResponse(resources=answers)


async def start_course_stand_in(
    keys: VerifyingKeys,
) -> tuple[CourseStandIn, GrpcServer, asyncio.Event, asyncio.Task[None]]:
    servicer = CourseStandIn()
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        verifier=InternalTokenVerifier(keys),
        register=lambda s: course_pb2_grpc.add_CourseServiceServicer_to_server(servicer, s),
        service_names=["lectern.course.v1.CourseService"],
        grace_seconds=0.5,
        tracing=False,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    await asyncio.wait_for(server.started.wait(), timeout=10)
    return servicer, server, stop, task
