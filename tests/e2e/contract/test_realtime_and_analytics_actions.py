"""getRealtimeToken, getAnalyticsDashboard and recordEngagement on the launched stack."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..gateway_client import ActionClient
from .shapes import Shapes
from .waiting import until

pytestmark = pytest.mark.timeout(180)

DASHBOARD_DOMAINS = {
    "storage": {"storage", "usage"},
    "content": {"content", "engagement"},
    "roi": {"sales", "engagement", "production"},
    "capacity": {"storageGrowth", "engagementGrowth"},
}


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()}


async def test_get_realtime_token_names_the_courses_it_may_watch(
    alice: ActionClient, shapes: Shapes, lectern_stack: Any
) -> None:
    first = await alice.ok("createCourse", {"title": "One"})
    second = await alice.ok("createCourse", {"title": "Two"})

    chosen = await alice.ok("getRealtimeToken", {"courseIds": [first["id"]]})
    shapes.check("getRealtimeToken", chosen)
    assert chosen["url"].startswith("ws") and chosen["token"] and chosen["expiresAt"]
    assert chosen["courseIds"] == [first["id"]]
    every = await alice.ok("getRealtimeToken", {})
    assert set(every["courseIds"]) == {first["id"], second["id"]}


async def test_get_realtime_token_for_an_unknown_course_is_refused(alice: ActionClient) -> None:
    error = await alice.fails("getRealtimeToken", {"courseIds": [str(uuid.uuid4())]})

    assert error["code"] in {"NOT_FOUND", "FORBIDDEN"}


async def _known_to_analytics(client: ActionClient, course_id: str) -> None:
    """Analytics learns of a course from course's events (outbox, Kafka), a moment after it was
    made; until then an event for it is refused as naming an unknown course."""

    async def known() -> bool:
        scoped = {"dashboard": "content", "courseId": course_id, **_window()}
        envelope = (await client.raw("getAnalyticsDashboard", scoped)).json()
        return bool(envelope["success"] and envelope["data"]["domains"]["content"]["courses"] == 1)

    await until(known, what="analytics to learn of the new course")


async def test_record_engagement_keeps_valid_events_and_counts_the_rest(alice: ActionClient, shapes: Shapes) -> None:
    course = await alice.ok("createCourse", {"title": "Watched"})
    at = datetime.now(UTC).isoformat()
    await _known_to_analytics(alice, course["id"])

    accepted = await alice.ok(
        "recordEngagement",
        {
            "events": [
                {"type": "view", "courseId": course["id"], "at": at},
                {"type": "sale", "courseId": course["id"], "at": at, "value": 49.0},
            ]
        },
    )
    shapes.check("recordEngagement", accepted)
    # Sales come from a service identity (billing) only since issue 12: a user's is rejected.
    assert accepted == {
        "accepted": 1,
        "rejected": 1,
        "rejectedFields": {"events.1.type": "sale events are recorded by a service (billing), not by users"},
    }

    mixed = await alice.ok(
        "recordEngagement",
        {
            "events": [
                {"type": "view", "courseId": course["id"], "at": at},
                {"type": "view", "courseId": str(uuid.uuid4()), "at": at},
            ]
        },
    )
    assert mixed["accepted"] == 1 and mixed["rejected"] == 1
    assert all(key.startswith("events.1.") for key in mixed["rejectedFields"]), mixed

    none_valid = await alice.fails(
        "recordEngagement", {"events": [{"type": "Bad Type", "courseId": course["id"], "at": at}]}
    )
    assert none_valid["code"] == "VALIDATION_FAILED" and none_valid["fields"]


async def test_every_dashboard_answers_its_domains(alice: ActionClient, shapes: Shapes) -> None:
    course = await alice.ok("createCourse", {"title": "Measured"})
    await _known_to_analytics(alice, course["id"])
    await alice.ok(
        "recordEngagement",
        {"events": [{"type": "view", "courseId": course["id"], "at": datetime.now(UTC).isoformat()}]},
    )

    for name, domains in DASHBOARD_DOMAINS.items():
        dashboard = await alice.ok("getAnalyticsDashboard", {"dashboard": name, **_window()})
        shapes.check("getAnalyticsDashboard", dashboard)
        assert dashboard["dashboard"] == name and domains <= set(dashboard["domains"]), dashboard
        assert dashboard["generatedAt"]
    scoped = await alice.ok("getAnalyticsDashboard", {"dashboard": "content", "courseId": course["id"], **_window()})
    assert DASHBOARD_DOMAINS["content"] <= set(scoped["domains"])

    async def view_counted() -> bool:
        # The course reaches analytics as an event (outbox, Kafka); the view is counted with it.
        board = await alice.ok("getAnalyticsDashboard", {"dashboard": "content", "courseId": course["id"], **_window()})
        return bool(board["domains"]["engagement"]["totals"]["views"] == 1)

    await until(view_counted, what="the content dashboard to count the view")


async def test_get_analytics_dashboard_refuses_a_reversed_window_and_an_unknown_dashboard(alice: ActionClient) -> None:
    window = _window()

    reversed_window = await alice.fails(
        "getAnalyticsDashboard", {"dashboard": "storage", "from": window["to"], "to": window["from"]}
    )
    assert reversed_window["code"] == "VALIDATION_FAILED"
    unknown = await alice.fails("getAnalyticsDashboard", {"dashboard": "weather", **window})
    assert unknown["code"] == "VALIDATION_FAILED" and "dashboard" in unknown["fields"]
    others = await alice.fails(
        "getAnalyticsDashboard", {"dashboard": "content", "courseId": str(uuid.uuid4()), **window}
    )
    assert others["code"] in {"NOT_FOUND", "FORBIDDEN"}
