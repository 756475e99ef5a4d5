"""AnalyticsServicer: proto <-> schema mapping and one unit of work per RPC; the rules live in the
services. The caller's identity comes from the server interceptor (``current_identity``)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from lectern.analytics.v1 import analytics_pb2 as pb
from lectern.analytics.v1 import analytics_pb2_grpc
from lectern_common.db import UnitOfWork
from lectern_common.identity import require_identity

from lectern_analytics.dashboards.schemas import DashboardRequest
from lectern_analytics.dashboards.service import DashboardService
from lectern_analytics.engagement.schemas import EngagementInput
from lectern_analytics.engagement.service import EngagementService

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


def domains_to_pb(domains: dict[str, dict[str, object]]) -> pb.DashboardDomains:
    """The figures as typed messages. Unknown keys fail loudly (ParseDict): a domain's figures and
    its message must agree, which the tests check for every domain."""
    message = pb.DashboardDomains()
    for name, figures in domains.items():
        field, message_type = _DOMAIN_MESSAGES[name]
        getattr(message, field).CopyFrom(ParseDict(figures, message_type()))
    return message


def _time(message: pb.GetDashboardRequest | pb.EngagementEvent, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[arg-type]  # field names come from our callers
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, uow: UnitOfWork, dashboards: DashboardService, engagement: EngagementService) -> None:
        self._uow = uow
        self._dashboards = dashboards
        self._engagement = engagement

    async def GetDashboard(
        self, request: pb.GetDashboardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDashboardResponse:
        result = await self._dashboards.get_dashboard(
            require_identity(),
            DashboardRequest(
                dashboard=_DASHBOARD_NAMES.get(request.dashboard),
                start=_time(request, "from"),
                end=_time(request, "to"),
                course_id=request.course_id if request.HasField("course_id") else None,
            ),
        )
        response = pb.GetDashboardResponse(domains=domains_to_pb(result.domains))
        response.generated_at.FromDatetime(result.generated_at)
        return response

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
