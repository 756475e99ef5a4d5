"""The CourseDirectory over course's gRPC ``ResolveResources``."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from lectern.course.v1 import course_pb2, course_pb2_grpc
from lectern_common.grpc_client import call, open_channel
from lectern_common.identity import Identity, InternalTokenIssuer

from lectern_media.course_directory import ResolvedTarget
from lectern_media.links.schemas import ResourceRef, ResourceType

_TO_PROTO = {
    ResourceType.COURSE: course_pb2.RESOURCE_TYPE_COURSE,
    ResourceType.CHAPTER: course_pb2.RESOURCE_TYPE_CHAPTER,
    ResourceType.LESSON: course_pb2.RESOURCE_TYPE_LESSON,
}
_FROM_PROTO = {v: k for k, v in _TO_PROTO.items()}

# ResolveResources is called with at most this many refs at once (a soft-deleted file may have
# had thousands of links).
BATCH = 500


class GrpcCourseDirectory:
    """Asks course, with the caller's identity re-issued as a fresh internal token, so course
    answers can_edit for the user on whose behalf media acts.

    The channel is opened by :meth:`open` inside the running loop (a gRPC channel binds to the
    loop current when it is made), not when the directory is built, and closed by :meth:`aclose`.
    """

    def __init__(self, target: str, issuer: InternalTokenIssuer, *, timeout: float = 5.0) -> None:
        self._target = target
        self._issuer = issuer
        self._timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._stub: course_pb2_grpc.CourseServiceAsyncStub | None = None

    async def open(self) -> None:
        if self._channel is None:
            self._channel = open_channel(self._target)
            self._stub = course_pb2_grpc.CourseServiceStub(self._channel)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None

    async def resolve(self, identity: Identity, refs: Sequence[ResourceRef]) -> dict[ResourceRef, ResolvedTarget]:
        if self._stub is None:
            raise RuntimeError("GrpcCourseDirectory.open() was not awaited (MediaApp opens it on entry)")
        unique = list(dict.fromkeys(refs))
        token = self._issuer.issue(identity)
        out: dict[ResourceRef, ResolvedTarget] = {}
        for start in range(0, len(unique), BATCH):
            request = course_pb2.ResolveResourcesRequest(
                refs=[
                    course_pb2.ResourceRef(resource_type=_TO_PROTO[r.resource_type], resource_id=r.resource_id)
                    for r in unique[start : start + BATCH]
                ]
            )
            response = await call(
                self._stub.ResolveResources, request, token=token, timeout=self._timeout, retry_unavailable=True
            )
            for item in response.resources:
                rtype = _FROM_PROTO.get(item.ref.resource_type)
                if rtype is None:
                    continue
                ref = ResourceRef(rtype, item.ref.resource_id)
                out[ref] = ResolvedTarget(
                    ref=ref,
                    exists=item.exists,
                    course_id=item.course_id,
                    can_edit=item.can_edit,
                    course_published=item.course_published,
                    course_title=item.course_title,
                )
        return out
