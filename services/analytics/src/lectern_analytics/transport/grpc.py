"""AnalyticsServicer: proto <-> schema mapping and one unit of work per RPC; the rules live in the
services. The caller's identity comes from the server interceptor (``current_identity``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from lectern.analytics.v1 import analytics_pb2 as pb
from lectern_common.db import UnitOfWork
from lectern_common.grpc_wire import add_servicer_answering_bytes
from lectern_common.identity import require_identity

from lectern_analytics.dashboards.schemas import DashboardRequest, DashboardResult
from lectern_analytics.dashboards.service import DashboardService
from lectern_analytics.engagement.schemas import EngagementInput
from lectern_analytics.engagement.service import EngagementService
from lectern_analytics.transport.encoding import figures_to_message
from lectern_analytics.transport.framing import encode_dashboard_response

SERVICE_NAME = "lectern.analytics.v1.AnalyticsService"

_DASHBOARD_NAMES = {
    pb.DASHBOARD_STORAGE: "storage",
    pb.DASHBOARD_CONTENT: "content",
    pb.DASHBOARD_ROI: "roi",
    pb.DASHBOARD_CAPACITY: "capacity",
}


# Each domain's figures (camelCase JSON, as cached) -> its typed message in DashboardDomains.
_DOMAIN_MESSAGES: dict[str, tuple[str, type[Message]]] = {
    "storage": ("storage", pb.StorageDomain),
    "usage": ("usage", pb.UsageDomain),
    "content": ("content", pb.ContentDomain),
    "engagement": ("engagement", pb.EngagementDomain),
    "sales": ("sales", pb.SalesDomain),
    "production": ("production", pb.ProductionDomain),
    "combined": ("combined", pb.RoiCombined),
    "storageGrowth": ("storage_growth", pb.StorageGrowthDomain),
    "engagementGrowth": ("engagement_growth", pb.EngagementGrowthDomain),
}


def encode_domain(name: str, figures: dict[str, Any]) -> bytes:
    """One domain's figures as its typed message, serialized: what the cache keeps, built once per
    miss (``transport.encoding``; ROI's ``combined``, one entry per course, field by field)."""
    if name == "combined":
        return _combined_to_pb(figures).SerializeToString()
    return figures_to_message(figures, _DOMAIN_MESSAGES[name][1]).SerializeToString()


def _money(figures: dict[str, Any]) -> pb.Money:
    return pb.Money(currency=figures["currency"], amount_minor=figures["amountMinor"])


def _combined_to_pb(combined: dict[str, Any]) -> pb.RoiCombined:
    """``roi_combined``'s figures built field by field: ParseDict of one entry per course costs
    several times as much."""
    message = pb.RoiCombined(
        per_course=[
            pb.CourseRoi(
                course_id=course["courseId"],
                revenue=_money(course["revenue"]),
                media_bytes=course["mediaBytes"],
                revenue_per_gb=_money(course["revenuePerGb"]) if course["revenuePerGb"] is not None else None,
            )
            for course in combined["perCourse"]
        ]
    )
    if combined["revenuePerGb"] is not None:
        message.revenue_per_gb.CopyFrom(_money(combined["revenuePerGb"]))
    return message


def result_to_pb(result: DashboardResult, into: pb.DashboardDomains | None = None) -> pb.DashboardDomains:
    """The response's domains as a message, ROI's derived ``combined`` too, from each answer's
    serialized message (a merge of bytes), written ``into`` a response's field when given. GetDashboard
    answers ``transport.framing``'s bytes instead; this is the message they must parse to (tests, bench)."""
    message = pb.DashboardDomains() if into is None else into
    for name, answer in result.answers.items():
        getattr(message, _DOMAIN_MESSAGES[name][0]).MergeFromString(answer.encoded)
    if result.combined is not None:
        message.combined.MergeFromString(result.combined.encoded)
    return message


def _time(message: pb.GetDashboardRequest | pb.EngagementEvent, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[arg-type]  # field names come from our callers
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def add_analytics_service(servicer: AnalyticsServicer, server: grpc.aio.Server) -> None:
    """Register ``servicer`` with a response serializer that passes through the bytes its
    methods answer already encoded (lectern_common.grpc_wire)."""
    add_servicer_answering_bytes(servicer, server, pb, "AnalyticsService")


class AnalyticsServicer:
    """Every RPC of lectern.analytics.v1.AnalyticsService (registered by add_analytics_service)."""

    def __init__(self, uow: UnitOfWork, dashboards: DashboardService, engagement: EngagementService) -> None:
        self._uow = uow
        self._dashboards = dashboards
        self._engagement = engagement

    async def GetDashboard(self, request: pb.GetDashboardRequest, context: grpc.aio.ServicerContext) -> bytes:
        """Answers the GetDashboardResponse's wire bytes, framed from the domains' cached bytes."""
        result = await self._dashboards.get_dashboard(
            require_identity(),
            DashboardRequest(
                dashboard=_DASHBOARD_NAMES.get(request.dashboard),
                start=_time(request, "from"),
                end=_time(request, "to"),
                course_id=request.course_id if request.HasField("course_id") else None,
            ),
        )
        return encode_dashboard_response(result)

    async def RecordEngagement(
        self, request: pb.RecordEngagementRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordEngagementResponse:
        events = [
            EngagementInput(
                type=event.type,
                course_id=event.course_id,
                lesson_id=event.lesson_id if event.HasField("lesson_id") else None,
                media_id=event.media_id if event.HasField("media_id") else None,
                at=_time(event, "at"),
                value=event.value if event.HasField("value") else None,
            )
            for event in request.events
        ]
        async with self._uow() as session:
            result = await self._engagement.record(session, require_identity(), events, request.idempotency_key)
        return pb.RecordEngagementResponse(
            accepted=result.accepted, rejected=result.rejected, rejected_fields=result.rejected_fields
        )
