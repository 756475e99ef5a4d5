"""Which domains each dashboard combines, which facts each domain reads, and which domains take
the time range into account. One table, read by the dashboard service and by the fact folding
that invalidates cached domains."""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    """A family of facts, named after the topic that feeds it."""

    MEDIA = "media"
    COURSE = "course"
    ENGAGEMENT = "engagement"


DASHBOARDS: dict[str, tuple[str, ...]] = {
    "storage": ("storage", "usage"),
    "content": ("content", "engagement"),
    "roi": ("sales", "engagement", "production"),
    "capacity": ("storageGrowth", "engagementGrowth"),
}

# Every domain reads course facts: a course filter, titles or ownership go through them.
DOMAIN_SOURCES: dict[str, frozenset[Source]] = {
    "storage": frozenset({Source.MEDIA, Source.COURSE}),
    "usage": frozenset({Source.MEDIA, Source.COURSE}),
    "content": frozenset({Source.MEDIA, Source.COURSE}),
    "production": frozenset({Source.MEDIA, Source.COURSE}),
    "storageGrowth": frozenset({Source.MEDIA, Source.COURSE}),
    "engagement": frozenset({Source.ENGAGEMENT, Source.COURSE}),
    "sales": frozenset({Source.ENGAGEMENT, Source.COURSE}),
    "engagementGrowth": frozenset({Source.ENGAGEMENT, Source.COURSE}),
}

# Snapshot domains describe "now" and ignore the range, so their cache entry is shared by ranges.
RANGED_DOMAINS = frozenset({"engagement", "sales", "storageGrowth", "engagementGrowth"})


def domains_reading(source: Source) -> tuple[str, ...]:
    """The domains whose cached answers an event from ``source`` may change."""
    return tuple(sorted(name for name, sources in DOMAIN_SOURCES.items() if source in sources))
