"""Typed dashboards through the gateway on the launched stack: each domain answers its own schema
(counts and bytes as JSON integers, money as integer minor units with its currency, times as
RFC 3339), the envelope keeps its shape, and the OpenAPI document says all of it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .gateway_client import ActionClient
from .media_files import until

pytestmark = pytest.mark.timeout(240)

DOMAINS = {
    "storage": {"storage", "usage"},
    "content": {"content", "engagement"},
    "roi": {"sales", "engagement", "production", "combined"},
    "capacity": {"storageGrowth", "engagementGrowth"},
}


def _rfc3339(value: str) -> datetime:
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    return parsed


def _integers(value: Any, path: str = "") -> list[str]:
    """Paths of every JSON number under ``value`` that is a float although its name says it counts."""
    counting = ("files", "bytes", "Bytes", "Files", "views", "completions", "ratings", "sales", "Sales", "courses")
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if isinstance(item, float) and (key.endswith(counting) or key in {"lessons", "events", "amountMinor"}):
                found.append(here)
            found += _integers(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _integers(item, f"{path}.{index}")
    return found


async def _record_sales_as_billing(stack: Any, course_id: str, at: datetime, amounts: list[float]) -> int:
    """What a billing integration does: RecordEngagement with its own service identity."""
    import grpc
    from google.protobuf.timestamp_pb2 import Timestamp
    from lectern.analytics.v1 import analytics_pb2, analytics_pb2_grpc
    from lectern_common.identity import Identity, InternalTokenIssuer
    from lectern_common.token_keys import SigningKey

    token = InternalTokenIssuer(SigningKey.from_pem(stack.secrets["internal_token_private_key"])).issue(
        Identity.service("billing")
    )
    when = Timestamp()
    when.FromDatetime(at)
    request = analytics_pb2.RecordEngagementRequest(
        events=[analytics_pb2.EngagementEvent(type="sale", course_id=course_id, at=when, value=v) for v in amounts],
        idempotency_key=secrets.token_hex(8),
    )
    async with grpc.aio.insecure_channel(stack.services["analytics"].grpc_target) as channel:
        response = await analytics_pb2_grpc.AnalyticsServiceStub(channel).RecordEngagement(
            request, metadata=(("authorization", f"Bearer {token}"),), timeout=10
        )
    return int(response.accepted)


async def test_every_dashboard_answers_typed_domains(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    alice = await ActionClient.login(gateway, f"alice-{secrets.token_hex(3)}")
    try:
        course = await alice.ok("createCourse", {"title": "Worth it"})
        now = datetime.now(UTC)
        at = (now - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        # Users record views and ratings; sales come from billing, a service identity calling
        # analytics over gRPC (a user's sale is rejected since issue 12).
        events = {
            "events": [
                {"type": "view", "courseId": course["id"], "at": at},
                {"type": "rating", "courseId": course["id"], "at": at, "value": 4},
            ]
        }

        async def record() -> dict[str, Any] | None:
            # Analytics learns of the course from course.created; until then the course is unknown.
            response = (await alice.raw("recordEngagement", events)).json()
            if response["success"]:
                return dict(response["data"])
            assert response["error"]["fields"]["events.0.courseId"] == "course not found", response
            return None

        accepted = await until(record, 30, "analytics to know the course")
        assert accepted["accepted"] == 2
        assert await _record_sales_as_billing(lectern_stack, course["id"], now - timedelta(minutes=5), [19.99, 5]) == 2
        window = {
            "from": (now - timedelta(days=2)).isoformat().replace("+00:00", "Z"),
            "to": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        }

        async def roi_with_sales() -> dict[str, Any] | None:
            data = await alice.ok("getAnalyticsDashboard", {"dashboard": "roi", **window})
            return data if data["domains"]["sales"]["totalSales"] == 2 else None

        roi = await until(roi_with_sales, 60, "analytics to fold the recorded sales")
        sales = roi["domains"]["sales"]
        assert sales["totalRevenue"] == {"currency": "USD", "amountMinor": 2499}
        assert sales["perCourse"] == [
            {
                "courseId": course["id"],
                "title": "Worth it",
                "sales": 2,
                "revenue": {"currency": "USD", "amountMinor": 2499},
            }
        ]
        combined = roi["domains"]["combined"]
        assert combined["revenuePerGb"] is None  # no media bytes: no per-GB figure, not a division by zero
        assert combined["perCourse"][0]["revenue"] == {"currency": "USD", "amountMinor": 2499}
        engagement = roi["domains"]["engagement"]["totals"]
        assert engagement["views"] == 1 and type(engagement["views"]) is int
        assert engagement["averageRating"] == 4.0

        for name, expected in DOMAINS.items():
            data = await alice.ok("getAnalyticsDashboard", {"dashboard": name, **window})
            assert set(data) == {"dashboard", "domains", "generatedAt"} and data["dashboard"] == name
            assert set(data["domains"]) == expected, name
            _rfc3339(data["generatedAt"])
            for domain, figures in data["domains"].items():
                if domain != "combined":
                    _rfc3339(figures["computedAt"])
            assert _integers(data["domains"]) == [], name
        content = (await alice.ok("getAnalyticsDashboard", {"dashboard": "content", **window}))["domains"]["content"]
        assert content["courses"] >= 1 and type(content["courses"]) is int
        storage = (await alice.ok("getAnalyticsDashboard", {"dashboard": "storage", **window}))["domains"]["storage"]
        assert type(storage["totalFiles"]) is int and type(storage["totalBytes"]) is int
        capacity = (await alice.ok("getAnalyticsDashboard", {"dashboard": "capacity", **window}))["domains"]
        days = capacity["engagementGrowth"]["perDay"]
        assert len(days) == 3 and all(len(day["day"]) == 10 for day in days)
        assert sum(day["sales"] for day in days) == 2 and all(type(day["events"]) is int for day in days)

        # Bad input is still a clear, structured error.
        bad = await alice.fails(
            "getAnalyticsDashboard", {"dashboard": "roi", "from": window["to"], "to": window["from"]}
        )
        assert bad["code"] == "VALIDATION_FAILED"
    finally:
        await alice.close()


async def test_the_openapi_document_types_every_domain(lectern_stack: Any) -> None:
    client = ActionClient(lectern_stack.urls["gateway"])
    try:
        document = (await client.http.get("/openapi.json")).json()
    finally:
        await client.close()
    schemas = document["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in schema:
            return resolve(schemas[schema["$ref"].rsplit("/", 1)[-1]])
        options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
        return resolve(options[0]) if len(options) == 1 else schema

    dashboard = resolve(schemas["Dashboard"]) if "Dashboard" in schemas else None
    assert dashboard is not None
    domains = resolve(dashboard["properties"]["domains"])
    assert set(domains["properties"]) == set().union(*DOMAINS.values())
    for name, schema in domains["properties"].items():
        domain = resolve(schema)
        assert domain.get("additionalProperties") is not True, name
        assert domain["type"] == "object" and domain["properties"], name
    storage = resolve(domains["properties"]["storage"])
    assert storage["properties"]["totalFiles"]["type"] == "integer"
    assert storage["properties"]["totalBytes"]["type"] == "integer"
    assert storage["properties"]["computedAt"]["format"] == "date-time"
    money = resolve(resolve(domains["properties"]["sales"])["properties"]["totalRevenue"])
    assert (
        money["properties"]["amountMinor"]["type"] == "integer" and money["properties"]["currency"]["type"] == "string"
    )
    views = resolve(resolve(domains["properties"]["engagement"])["properties"]["totals"])["properties"]["views"]
    assert views["type"] == "integer"
    day = resolve(resolve(resolve(domains["properties"]["storageGrowth"])["properties"]["perDay"])["items"])
    assert day["properties"]["day"]["format"] == "date"
