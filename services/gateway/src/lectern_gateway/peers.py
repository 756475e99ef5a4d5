"""What the actions need from the services: one typed method per RPC the gateway calls.

Each peer wraps its generated async stub (``lectern-protos``, typed by mypy-protobuf), so mypy
checks every request and response and a misspelt RPC fails type-checking. How a call is made
(deadline, identity token, retries, timing) is the ``PeerCalls`` it is given, the gRPC channel of
:mod:`lectern_gateway.transport.grpc_peers`; this module never imports grpc at run time, so the
services that use it don't either (STYLE rule 1). The stubs are built once at start-up.

A method returns the call's awaitable instead of awaiting it itself, and so do ``PeerCalls``'
``read`` and ``write``: a call makes one coroutine (the channel's), where the by-name seam this
replaces made two and looked the RPC up with ``getattr``.

Reads are retried while the peer is briefly unavailable; every write here carries an
idempotency key, which is what makes its retry safe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from google.protobuf.message import Message
from lectern.analytics.v1 import analytics_pb2 as analytics
from lectern.course.v1 import course_pb2 as course
from lectern.media.v1 import media_pb2 as media
from lectern.upload.v1 import upload_pb2 as upload

from lectern_gateway.actions.registry import ActionContext

if TYPE_CHECKING:
    from lectern.analytics.v1.analytics_pb2_grpc import AnalyticsServiceAsyncStub
    from lectern.course.v1.course_pb2_grpc import CourseServiceAsyncStub
    from lectern.media.v1.media_pb2_grpc import MediaServiceAsyncStub
    from lectern.upload.v1.upload_pb2_grpc import UploadServiceAsyncStub

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


class PeerCalls(Protocol):
    """How one service is called: ``rpc`` is a method of that service's generated stub."""

    def read(self, rpc: Callable[[Req], Awaitable[Resp]], request: Req, ctx: ActionContext) -> Awaitable[Resp]:
        """A read: retried while the peer is briefly unavailable."""
        ...

    def write(
        self, rpc: Callable[[Req], Awaitable[Resp]], request: Req, ctx: ActionContext, *, retry_safe: bool
    ) -> Awaitable[Resp]:
        """A write: retried only when ``retry_safe`` (it carries an idempotency key)."""
        ...


class CoursePeer:
    """The course service's RPCs the gateway calls."""

    def __init__(self, calls: PeerCalls, stub: CourseServiceAsyncStub) -> None:
        self._calls = calls
        self._stub = stub

    def create_course(
        self, request: course.CreateCourseRequest, ctx: ActionContext
    ) -> Awaitable[course.CreateCourseResponse]:
        return self._calls.write(self._stub.CreateCourse, request, ctx, retry_safe=True)

    def list_my_courses(
        self, request: course.ListMyCoursesRequest, ctx: ActionContext
    ) -> Awaitable[course.ListMyCoursesResponse]:
        return self._calls.read(self._stub.ListMyCourses, request, ctx)

    def get_course_edit(
        self, request: course.GetCourseEditRequest, ctx: ActionContext
    ) -> Awaitable[course.GetCourseEditResponse]:
        return self._calls.read(self._stub.GetCourseEdit, request, ctx)

    def check_course_access(
        self, request: course.CheckCourseAccessRequest, ctx: ActionContext
    ) -> Awaitable[course.CheckCourseAccessResponse]:
        return self._calls.read(self._stub.CheckCourseAccess, request, ctx)

    def update_course(
        self, request: course.UpdateCourseRequest, ctx: ActionContext
    ) -> Awaitable[course.UpdateCourseResponse]:
        return self._calls.write(self._stub.UpdateCourse, request, ctx, retry_safe=True)

    def save_course_changes(
        self, request: course.SaveCourseChangesRequest, ctx: ActionContext
    ) -> Awaitable[course.SaveCourseChangesResponse]:
        return self._calls.write(self._stub.SaveCourseChanges, request, ctx, retry_safe=True)

    def delete_course(
        self, request: course.DeleteCourseRequest, ctx: ActionContext
    ) -> Awaitable[course.DeleteCourseResponse]:
        return self._calls.write(self._stub.DeleteCourse, request, ctx, retry_safe=True)

    def restore_course(
        self, request: course.RestoreCourseRequest, ctx: ActionContext
    ) -> Awaitable[course.RestoreCourseResponse]:
        return self._calls.write(self._stub.RestoreCourse, request, ctx, retry_safe=True)

    def publish_course(
        self, request: course.PublishCourseRequest, ctx: ActionContext
    ) -> Awaitable[course.PublishCourseResponse]:
        return self._calls.write(self._stub.PublishCourse, request, ctx, retry_safe=True)

    def unpublish_course(
        self, request: course.UnpublishCourseRequest, ctx: ActionContext
    ) -> Awaitable[course.UnpublishCourseResponse]:
        return self._calls.write(self._stub.UnpublishCourse, request, ctx, retry_safe=True)


class MediaPeer:
    """The media service's RPCs the gateway calls."""

    def __init__(self, calls: PeerCalls, stub: MediaServiceAsyncStub) -> None:
        self._calls = calls
        self._stub = stub

    def list_media(self, request: media.ListMediaRequest, ctx: ActionContext) -> Awaitable[media.ListMediaResponse]:
        return self._calls.read(self._stub.ListMedia, request, ctx)

    def get_media(self, request: media.GetMediaRequest, ctx: ActionContext) -> Awaitable[media.GetMediaResponse]:
        return self._calls.read(self._stub.GetMedia, request, ctx)

    def get_media_usage(
        self, request: media.GetMediaUsageRequest, ctx: ActionContext
    ) -> Awaitable[media.GetMediaUsageResponse]:
        return self._calls.read(self._stub.GetMediaUsage, request, ctx)

    def list_media_audit(
        self, request: media.ListMediaAuditRequest, ctx: ActionContext
    ) -> Awaitable[media.ListMediaAuditResponse]:
        return self._calls.read(self._stub.ListMediaAudit, request, ctx)

    def batch_get_media_summaries(
        self, request: media.BatchGetMediaSummariesRequest, ctx: ActionContext
    ) -> Awaitable[media.BatchGetMediaSummariesResponse]:
        return self._calls.read(self._stub.BatchGetMediaSummaries, request, ctx)

    def update_media(
        self, request: media.UpdateMediaRequest, ctx: ActionContext
    ) -> Awaitable[media.UpdateMediaResponse]:
        return self._calls.write(self._stub.UpdateMedia, request, ctx, retry_safe=True)

    def link_media(self, request: media.LinkMediaRequest, ctx: ActionContext) -> Awaitable[media.LinkMediaResponse]:
        return self._calls.write(self._stub.LinkMedia, request, ctx, retry_safe=True)

    def unlink_media(
        self, request: media.UnlinkMediaRequest, ctx: ActionContext
    ) -> Awaitable[media.UnlinkMediaResponse]:
        return self._calls.write(self._stub.UnlinkMedia, request, ctx, retry_safe=True)

    def delete_media(
        self, request: media.DeleteMediaRequest, ctx: ActionContext
    ) -> Awaitable[media.DeleteMediaResponse]:
        return self._calls.write(self._stub.DeleteMedia, request, ctx, retry_safe=True)

    def restore_media(
        self, request: media.RestoreMediaRequest, ctx: ActionContext
    ) -> Awaitable[media.RestoreMediaResponse]:
        return self._calls.write(self._stub.RestoreMedia, request, ctx, retry_safe=True)


class UploadPeer:
    """The upload service's control RPCs the gateway calls (the bytes go to its tus endpoint)."""

    def __init__(self, calls: PeerCalls, stub: UploadServiceAsyncStub) -> None:
        self._calls = calls
        self._stub = stub

    def get_upload(self, request: upload.GetUploadRequest, ctx: ActionContext) -> Awaitable[upload.GetUploadResponse]:
        return self._calls.read(self._stub.GetUpload, request, ctx)

    def list_uploads(
        self, request: upload.ListUploadsRequest, ctx: ActionContext
    ) -> Awaitable[upload.ListUploadsResponse]:
        return self._calls.read(self._stub.ListUploads, request, ctx)

    def resume_upload(
        self, request: upload.ResumeUploadRequest, ctx: ActionContext
    ) -> Awaitable[upload.ResumeUploadResponse]:
        return self._calls.read(self._stub.ResumeUpload, request, ctx)

    def create_upload(
        self, request: upload.CreateUploadRequest, ctx: ActionContext
    ) -> Awaitable[upload.CreateUploadResponse]:
        return self._calls.write(self._stub.CreateUpload, request, ctx, retry_safe=True)

    def cancel_upload(
        self, request: upload.CancelUploadRequest, ctx: ActionContext
    ) -> Awaitable[upload.CancelUploadResponse]:
        return self._calls.write(self._stub.CancelUpload, request, ctx, retry_safe=True)


class AnalyticsPeer:
    """The analytics service's RPCs the gateway calls."""

    def __init__(self, calls: PeerCalls, stub: AnalyticsServiceAsyncStub) -> None:
        self._calls = calls
        self._stub = stub

    def get_dashboard(
        self, request: analytics.GetDashboardRequest, ctx: ActionContext
    ) -> Awaitable[analytics.GetDashboardResponse]:
        return self._calls.read(self._stub.GetDashboard, request, ctx)

    def record_engagement(
        self, request: analytics.RecordEngagementRequest, ctx: ActionContext
    ) -> Awaitable[analytics.RecordEngagementResponse]:
        return self._calls.write(self._stub.RecordEngagement, request, ctx, retry_safe=True)
