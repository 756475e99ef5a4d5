"""ROI's ``combined`` entry is cached beside sales and production under a key derived from theirs:
a warm call reads it, and an event that changes either domain makes the next call derive it anew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_testing import course_created, engagement, fold, link_added, media_file, new_id, new_user
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.schemas import DashboardRequest

GB = 10**9


def roi_today() -> DashboardRequest:
    """The last day; a test makes it once, so its calls share a range (and so the cache keys)."""
    now = datetime.now(UTC)
    return DashboardRequest("roi", now - timedelta(days=1), now + timedelta(minutes=5), None)


async def combined_keys(app: AnalyticsApp, owner_id: str) -> list[bytes]:
    return sorted(await app.redis.keys(f"{app.settings.cache_key_prefix}:d*:{owner_id}:combined:*"))


async def test_the_combined_entry_is_cached_and_follows_sales_and_production(app: AnalyticsApp) -> None:
    owner, course_id, media_id = new_user(), new_id("c"), new_id("m")
    now, request = datetime.now(UTC), roi_today()
    await fold(
        app,
        course_created(owner, course_id, "Sold"),
        media_file(owner, media_id, size=2 * GB),
        link_added(owner, media_id, "course", course_id, course_id, 1),
        engagement("sale", course_id, now - timedelta(hours=1), 10),
    )
    cold = await app.dashboards.get_dashboard(owner, request)
    assert cold.domains["combined"]["revenuePerGb"] == {"currency": "USD", "amountMinor": 500}
    stored = await combined_keys(app, owner.user_id)
    assert len(stored) == 1

    # Warm: the stored entry comes back, and nothing new is stored.
    warm = await app.dashboards.get_dashboard(owner, request)
    assert warm.combined is not None and cold.combined is not None
    assert warm.combined.encoded == cold.combined.encoded
    assert warm.domains["combined"] == cold.domains["combined"]
    assert await combined_keys(app, owner.user_id) == stored

    # A sale moves sales' generation: a new key, derived from the fresh sales figures.
    await fold(app, engagement("sale", course_id, now - timedelta(minutes=30), 30))
    after_sale = await app.dashboards.get_dashboard(owner, request)
    assert after_sale.domains["combined"]["revenuePerGb"] == {"currency": "USD", "amountMinor": 2000}
    after_sale_keys = await combined_keys(app, owner.user_id)
    assert len(after_sale_keys) == 2

    # A file added to the course moves production's: derived again (40.00 over 4 GB).
    other_media = new_id("m")
    await fold(
        app,
        media_file(owner, other_media, size=2 * GB),
        link_added(owner, other_media, "course", course_id, course_id, 1),
    )
    after_file = await app.dashboards.get_dashboard(owner, request)
    assert after_file.domains["combined"]["revenuePerGb"] == {"currency": "USD", "amountMinor": 1000}
    assert len(await combined_keys(app, owner.user_id)) == 3


async def test_a_stored_combined_entry_is_what_a_warm_call_answers(app: AnalyticsApp) -> None:
    """Proof that a warm call reads the entry and does not derive it: an entry planted under the
    derived key (another owner's figures) is answered as it is."""
    owner, course_id, request = new_user(), new_id("c"), roi_today()
    await fold(
        app,
        course_created(owner, course_id, "Planted"),
        engagement("sale", course_id, datetime.now(UTC) - timedelta(hours=1), 10),
    )
    first = await app.dashboards.get_dashboard(owner, request)
    assert first.domains["combined"]["revenuePerGb"] is None  # no media bytes
    (key,) = await combined_keys(app, owner.user_id)

    planted_owner, planted_course, planted_media = new_user(), new_id("c"), new_id("m")
    await fold(
        app,
        course_created(planted_owner, planted_course, "Elsewhere"),
        media_file(planted_owner, planted_media, size=GB),
        link_added(planted_owner, planted_media, "course", planted_course, planted_course, 1),
        engagement("sale", planted_course, datetime.now(UTC) - timedelta(hours=1), 7),
    )
    planted = await app.dashboards.get_dashboard(planted_owner, request)
    assert planted.combined is not None
    await app.redis.set(key, planted.combined.dump())

    warm = await app.dashboards.get_dashboard(owner, request)
    assert warm.domains["combined"]["revenuePerGb"] == {"currency": "USD", "amountMinor": 700}
