"""Migration 0002 (the covering engagement index) applies on a database holding facts, goes back
down and up again, and every dashboard answers the same figures before and after it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import lectern_analytics
import pytest_asyncio
from analytics_testing import KnownData, analytics_settings, seed, without_times
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.domains import DASHBOARDS
from lectern_common.migrations import downgrade, migrations_dir, upgrade
from sqlalchemy import text

MIGRATIONS = migrations_dir(None, lectern_analytics.__file__)
BEFORE = "0001_create_analytics_facts"


@pytest_asyncio.fixture(loop_scope="session")
async def database_at_0001(lectern_infra: Any) -> AsyncIterator[str]:
    name = f"t_analytics_migrations_{secrets.token_hex(4)}"
    url = await lectern_infra.create_database(name)
    await asyncio.to_thread(upgrade, url, MIGRATIONS, BEFORE)
    yield url
    await lectern_infra.drop_database(name)


async def every_dashboard(url: str, lectern_infra: Any, data: KnownData) -> dict[str, Any]:
    """Each dashboard, for the owner and for two of their courses, computed (never from the cache)."""
    figures: dict[str, Any] = {}
    async with AnalyticsApp(analytics_settings(url, lectern_infra)) as app:
        for name in DASHBOARDS:
            for course in (None, data.c1, data.c2):
                await app.cache.invalidate((data.owner.user_id, domain) for domain in DASHBOARDS[name])
                result = await app.dashboards.get_dashboard(data.owner, data.request(name, course))
                figures[f"{name}:{course}"] = {d: without_times(f) for d, f in result.domains.items()}
        assert app.dashboards.cache_hits == 0  # every figure was computed on this schema
    return figures


async def indexes(url: str, lectern_infra: Any) -> dict[str, str]:
    async with AnalyticsApp(analytics_settings(url, lectern_infra)) as app, app.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'engagement_events'")
        )
        return {row.indexname: row.indexdef for row in rows}


async def test_covering_index_migration_keeps_every_dashboard_figure(database_at_0001: str, lectern_infra: Any) -> None:
    url = database_at_0001
    async with AnalyticsApp(analytics_settings(url, lectern_infra)) as app:
        data = await seed(app)
    before = await every_dashboard(url, lectern_infra, data)
    assert "ix_engagement_events_course_at" in await indexes(url, lectern_infra)

    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    after_upgrade = await indexes(url, lectern_infra)
    assert "ix_engagement_events_course_at" not in after_upgrade
    assert (
        "(course_id, at) INCLUDE (type, value, lesson_id, media_id)"
        in (after_upgrade["ix_engagement_events_course_at_figures"])
    )
    assert await every_dashboard(url, lectern_infra, data) == before
    assert before["roi:None"]["engagement"]["totals"]["views"] == 4  # the known data set is there

    await asyncio.to_thread(downgrade, url, MIGRATIONS, BEFORE)
    assert "ix_engagement_events_course_at_figures" not in await indexes(url, lectern_infra)
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    assert await every_dashboard(url, lectern_infra, data) == before
