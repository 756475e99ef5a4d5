"""The engagement domain's one statement (counts per course and kind, then grouping sets) answers
what counting the facts one by one answers, on a varied data set: several courses and lessons,
events with and without lesson or media, ratings without a value, a removed lesson, facts outside
the range and another owner's, for the owner and for one course."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from analytics_testing import course_created, engagement, fold, lesson_added, new_id, new_user, record
from lectern.events.v1 import course_events_pb2 as course_ev
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.repository import DashboardQueries
from sqlalchemy import text

KINDS = ["view", "watch_seconds", "completion", "rating", "sale"]


def expected(facts: list[Any], titles: dict[str, str | None]) -> dict[str, Any]:
    """The domain's figures, counted in Python from the fact rows."""
    groups: dict[str, dict[Any, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for fact in facts:
        groups["totals"][None].append(fact)
        groups["course"][fact.course_id].append(fact)
        if fact.lesson_id is not None:
            groups["lesson"][(fact.course_id, fact.lesson_id)].append(fact)
        if fact.media_id is not None:
            groups["media"][fact.media_id].append(fact)

    def figures(rows: list[Any]) -> dict[str, Any]:
        rated = [r.value for r in rows if r.type == "rating" and r.value is not None]
        return {
            "views": sum(r.type == "view" for r in rows),
            "watchSeconds": pytest.approx(sum(r.value or 0 for r in rows if r.type == "watch_seconds")),
            "completions": sum(r.type == "completion" for r in rows),
            "ratings": sum(r.type == "rating" for r in rows),
            "averageRating": round(sum(rated) / len(rated), 4) if rated else None,
        }

    return {
        "totals": figures(groups["totals"][None]),
        "perCourse": [
            {"courseId": c, "title": titles[c], **figures(rows)} for c, rows in sorted(groups["course"].items())
        ],
        "perLesson": [
            {"courseId": c, "lessonId": lesson, "title": titles.get(lesson), **figures(rows)}
            for (c, lesson), rows in sorted(groups["lesson"].items())
        ],
        "perMedia": [{"mediaId": m, **figures(rows)} for m, rows in sorted(groups["media"].items())],
    }


async def test_one_pass_engagement_equals_counting_each_fact(app: AnalyticsApp) -> None:
    rng = random.Random(17)
    owner, other = new_user(), new_user("other")
    day0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    courses = [new_id("c") for _ in range(3)]
    lessons = {c: [new_id("l") for _ in range(3)] for c in courses}
    media = [new_id("m") for _ in range(4)]
    other_course = new_id("c")
    titles: dict[str, str | None] = {c: f"Course {n}" for n, c in enumerate(courses)}
    setup = [course_created(owner, c, str(titles[c])) for c in courses]
    setup.append(course_created(other, other_course, "Not yours"))
    for c in courses:
        for lesson in lessons[c]:
            titles[lesson] = f"Lesson {lesson[-4:]}"  # as lesson_added names it
            setup.append(lesson_added(owner, c, lesson))
    events = []
    for _ in range(300):
        course = rng.choice([*courses, other_course])
        kind = rng.choice(KINDS)
        lesson = rng.choice([None, *lessons.get(course, [new_id("l")])])
        value = {"watch_seconds": rng.uniform(1, 500), "sale": 9.99, "rating": rng.choice([None, 1, 3, 5])}.get(kind)
        at = day0 + timedelta(minutes=rng.randint(-600, 14 * 24 * 60))
        events.append(engagement(kind, course, at, value, lesson_id=lesson, media_id=rng.choice([None, *media])))
    removed = lessons[courses[0]][0]
    removal = course_ev.LessonRemoved(course_id=courses[0], lesson_id=removed, chapter_id="ch-1")
    await fold(app, *setup, *events, record("course.lesson.removed", removal, aggregate_id=courses[0]))
    titles[removed] = None  # a removed lesson's facts still count, without a title

    start, end = day0, day0 + timedelta(days=10)
    async with app.uow.read_only() as session:
        facts = (
            await session.execute(
                text(
                    "SELECT e.* FROM engagement_events e JOIN courses c USING (course_id) "
                    "WHERE c.owner_id = :owner AND e.at >= :start AND e.at < :end"
                ),
                {"owner": owner.user_id, "start": start, "end": end},
            )
        ).all()
        queries = DashboardQueries(session)
        assert len(facts) > 100
        assert await queries.engagement(owner.user_id, None, start, end) == expected(facts, titles)
        one = [f for f in facts if f.course_id == courses[0]]
        assert await queries.engagement(owner.user_id, courses[0], start, end) == expected(one, titles)
        nothing = await queries.engagement(owner.user_id, None, end + timedelta(days=30), end + timedelta(days=31))
        assert nothing == expected([], titles)
