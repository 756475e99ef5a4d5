"""GetDashboard's framed wire bytes against the message the servicer used to build and encode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_testing import course_created, engagement, fold, link_added, media_file, new_id, new_user
from lectern.analytics.v1 import analytics_pb2 as pb
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.cache import CachedDomain
from lectern_analytics.dashboards.schemas import DashboardRequest, DashboardResult
from lectern_analytics.transport.framing import encode_dashboard_response
from lectern_analytics.transport.grpc import result_to_pb


def built_response(result: DashboardResult) -> pb.GetDashboardResponse:
    """The response as GetDashboard built it before the framing: a message, merged then encoded."""
    response = pb.GetDashboardResponse()
    result_to_pb(result, into=response.domains)
    response.generated_at.FromDatetime(result.generated_at)
    return response


async def test_framed_bytes_are_the_built_response_for_every_dashboard_cold_and_warm(app: AnalyticsApp) -> None:
    owner, course_id, media_id = new_user(), new_id("c"), new_id("m")
    now = datetime.now(UTC)
    await fold(
        app,
        course_created(owner, course_id, "Framed"),
        media_file(owner, media_id, size=3 * 10**9, duration=120.0),
        link_added(owner, media_id, "course", course_id, course_id, 1),
        engagement("sale", course_id, now - timedelta(hours=1), 42.5),
        engagement("view", course_id, now - timedelta(hours=1)),
        engagement("rating", course_id, now - timedelta(hours=2), 5),
    )
    for dashboard in ("storage", "content", "roi", "capacity"):
        request = DashboardRequest(dashboard, now - timedelta(days=1), now + timedelta(minutes=1), None)
        misses = app.dashboards.cache_misses
        cold = await app.dashboards.get_dashboard(owner, request)
        assert app.dashboards.cache_misses > misses, dashboard
        hits = app.dashboards.cache_hits
        warm = await app.dashboards.get_dashboard(owner, request)
        assert app.dashboards.cache_hits > hits, dashboard
        for result in (cold, warm):
            framed = encode_dashboard_response(result)
            built = built_response(result)
            assert pb.GetDashboardResponse.FromString(framed) == built, dashboard
            # Fields in field-number order, as protobuf writes them: the very same bytes.
            assert framed == built.SerializeToString(deterministic=True), dashboard
            assert built.domains.ListFields(), dashboard


def test_an_empty_domain_is_framed_as_present() -> None:
    empty = CachedDomain(b"", b"{}")
    sales = CachedDomain(pb.SalesDomain(total_sales=3).SerializeToString(), b"{}")
    result = DashboardResult("roi", {"sales": sales, "usage": empty}, empty, datetime(2026, 12, 1, 16, tzinfo=UTC))

    response = pb.GetDashboardResponse.FromString(encode_dashboard_response(result))

    assert [field.name for field, _ in response.domains.ListFields()] == ["usage", "sales", "combined"]
    assert response.domains.sales.total_sales == 3
    assert response.generated_at.ToDatetime(tzinfo=UTC) == result.generated_at
    assert response == built_response(result)
