"""Analytics actions: dashboards (read) and engagement facts (write) through analytics' gRPC."""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict
from lectern.analytics.v1 import analytics_pb2

from lectern_gateway.actions.registry import Action, ActionContext
from lectern_gateway.analytics import schemas as s
from lectern_gateway.peers import AnalyticsPeer
from lectern_gateway.proto_time import to_datetime, to_timestamp

_DASHBOARDS = {
    "storage": analytics_pb2.DASHBOARD_STORAGE,
    "content": analytics_pb2.DASHBOARD_CONTENT,
    "roi": analytics_pb2.DASHBOARD_ROI,
    "capacity": analytics_pb2.DASHBOARD_CAPACITY,
}


class AnalyticsActions:
    def __init__(self, analytics: AnalyticsPeer) -> None:
        self._analytics = analytics

    async def get_dashboard(self, ctx: ActionContext, data: s.DashboardInput) -> s.Dashboard:
        """One dashboard over a time range, its domains computed (and cached) by analytics."""
        request = analytics_pb2.GetDashboardRequest(
            dashboard=_DASHBOARDS[data.dashboard],
            to=to_timestamp(data.to),
        )
        getattr(request, "from").CopyFrom(to_timestamp(data.from_))
        if data.course_id is not None:
            request.course_id = data.course_id
        response = await self._analytics.get_dashboard(request, ctx)
        # The proto's JSON form has the schemas' camelCase names (int64 as strings, which the
        # models turn back into integers); unset domains stay absent.
        domains = MessageToDict(response.domains, always_print_fields_with_no_presence=True)
        return s.Dashboard(
            dashboard=data.dashboard,
            domains=s.DashboardDomains.model_validate(domains),
            generated_at=to_datetime(response.generated_at),
        )

    async def record_engagement(self, ctx: ActionContext, data: s.RecordEngagementInput) -> s.EngagementAccepted:
        """Player and sales facts, forwarded to analytics in one batch."""
        events = []
        for event in data.events:
            message = analytics_pb2.EngagementEvent(
                type=event.type, course_id=event.course_id, at=to_timestamp(event.at)
            )
            if event.lesson_id is not None:
                message.lesson_id = event.lesson_id
            if event.media_id is not None:
                message.media_id = event.media_id
            if event.value is not None:
                message.value = event.value
            events.append(message)
        request = analytics_pb2.RecordEngagementRequest(events=events, idempotency_key=ctx.service_idempotency_key)
        response = await self._analytics.record_engagement(request, ctx)
        return s.EngagementAccepted(
            accepted=response.accepted, rejected=response.rejected, rejected_fields=dict(response.rejected_fields)
        )

    def actions(self) -> list[Action]:
        tag = "analytics"
        return [
            Action(
                "getAnalyticsDashboard",
                s.DashboardInput,
                s.Dashboard,
                self.get_dashboard,
                False,
                "A dashboard's domains over a time range.",
                tag,
            ),
            Action(
                "recordEngagement",
                s.RecordEngagementInput,
                s.EngagementAccepted,
                self.record_engagement,
                True,
                "Record player and sales facts.",
                tag,
            ),
        ]
