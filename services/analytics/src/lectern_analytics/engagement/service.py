"""RecordEngagement: validate player and sales facts, store the valid ones and emit each as
``engagement.recorded`` through the outbox (topic lectern.engagement.v1, key = course id).

Policy for a batch with invalid events (a player flushes a buffer; one bad clock or a course
deleted meanwhile must not lose the rest): invalid events are skipped and counted (``rejected``,
with ``rejected_fields`` keyed ``events.<i>.<field>``) as long as at least one event is valid.
When none is valid the call fails as VALIDATION_FAILED with the same ``fields``, so a client
that sent only garbage hears about it.

Sales are revenue (the ROI dashboard): a ``sale`` is accepted only from a service identity (the
billing integration calling with its own internal token), never from a signed-in user, who could
otherwise invent revenue for any course. A user's ``sale`` is rejected like any invalid event.

A repeat with the same idempotency key and the same events answers the first result and stores
nothing; the same key with other events is a CONFLICT (lectern_common.idempotency).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from lectern.events.v1 import engagement_events_pb2 as ev
from lectern.events.v1.event_types import ENGAGEMENT_RECORDED
from lectern_common.idempotency import IdempotencyStore, fingerprint
from lectern_common.identity import Identity
from lectern_common.outbox import OutboxWriter
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_analytics import errors
from lectern_analytics.dashboards.cache import invalidate_after_commit
from lectern_analytics.dashboards.domains import Source, domains_reading
from lectern_analytics.engagement.repository import EngagementRepository
from lectern_analytics.engagement.schemas import (
    AcceptedEngagement,
    EngagementInput,
    EngagementType,
    RecordedEngagement,
    RecordResult,
)
from lectern_analytics.settings import AnalyticsSettings

_TYPE_VALUES = frozenset(t.value for t in EngagementType)
_TYPES = ", ".join(t.value for t in EngagementType)
_COUNTED = frozenset({EngagementType.VIEW, EngagementType.COMPLETION})


class EngagementService:
    def __init__(
        self,
        settings: AnalyticsSettings,
        outbox: OutboxWriter,
        idempotency: IdempotencyStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._idempotency = idempotency
        self._clock = clock

    async def record(
        self, session: AsyncSession, identity: Identity, events: Sequence[EngagementInput], idempotency_key: str
    ) -> RecordResult:
        """Validate ``events``, store and emit the valid ones, and say how many were accepted and
        skipped; VALIDATION_FAILED (fields ``events.<i>.<field>``) when none is valid."""
        if not events:
            raise errors.invalid_engagement({"events": "at least one event is required"})
        if len(events) > self._settings.max_events_per_request:
            raise errors.invalid_engagement(
                {"events": f"at most {self._settings.max_events_per_request} events per request"}
            )
        scope = f"analytics.record_engagement:{identity.user_id}"
        if idempotency_key:
            stored = await self._idempotency.begin(
                session, scope=scope, key=idempotency_key, request_fingerprint=self._fingerprint(events)
            )
            if stored is not None:
                return RecordResult.model_validate_json(stored)

        repository = EngagementRepository(session)
        owners = await repository.live_course_owners([e.course_id for e in events if e.course_id])
        accepted, rejected = self._sorted_out(events, owners, identity)
        if not accepted:
            raise errors.invalid_engagement(rejected)

        for fact in accepted:
            await self._store_and_emit(session, repository, identity, fact)
        for owner_id in {fact.owner_id for fact in accepted}:
            invalidate_after_commit(session, owner_id, domains_reading(Source.ENGAGEMENT))
        result = RecordResult(accepted=len(accepted), rejected=len(events) - len(accepted), rejected_fields=rejected)
        if idempotency_key:
            await self._idempotency.complete(
                session, scope=scope, key=idempotency_key, response=result.model_dump_json().encode()
            )
        return result

    def _sorted_out(
        self, events: Sequence[EngagementInput], owners: dict[str, str], identity: Identity
    ) -> tuple[list[AcceptedEngagement], dict[str, str]]:
        """The valid events, normalised, and the problems of the others keyed ``events.<i>.<field>``."""
        accepted: list[AcceptedEngagement] = []
        rejected: dict[str, str] = {}
        for index, event in enumerate(events):
            problems = self._problems(event, owners, identity)
            if problems:
                rejected.update({f"events.{index}.{name}": message for name, message in problems.items()})
            else:
                accepted.append(self._normalised(event, owners[event.course_id]))
        return accepted, rejected

    async def fold_many(self, session: AsyncSession, facts: Sequence[RecordedEngagement]) -> None:
        """Fold ``engagement.recorded`` events from the topic: one multi-row insert and one owner
        lookup (each event id appears once). Our own events are already stored under their event
        id (a no-op here); another producer's are stored now."""
        if not facts:
            return
        repository = EngagementRepository(session)
        await repository.add_many(facts)
        owners = await repository.course_owners([f.course_id for f in facts])
        for owner_id in set(owners.values()):
            invalidate_after_commit(session, owner_id, domains_reading(Source.ENGAGEMENT))

    def _problems(self, event: EngagementInput, owners: dict[str, str], identity: Identity) -> dict[str, str]:
        """What is wrong with one event, by field (empty when it is valid)."""
        kind = EngagementType(event.type) if event.type in _TYPE_VALUES else None
        found = {
            "type": _type_problem(kind, identity),
            "courseId": _course_problem(event.course_id, owners),
            "at": self._at_problem(event.at),
            "value": self._value_problem(kind, event.value),
        }
        return {name: problem for name, problem in found.items() if problem is not None}

    def _at_problem(self, at: datetime | None) -> str | None:
        settings = self._settings
        now = self._clock()
        if at is None:
            return "is required"
        if at > now + timedelta(seconds=settings.engagement_clock_skew_seconds):
            return "must not be in the future"
        if at < now - timedelta(days=settings.engagement_max_age_days):
            return f"must be within the last {settings.engagement_max_age_days} days"
        return None

    def _value_problem(self, kind: EngagementType | None, value: float | None) -> str | None:
        """A view or completion counts one; watch seconds, sales and ratings carry a bounded value."""
        settings = self._settings
        if value is not None and not math.isfinite(value):
            return "must be a finite number"
        if kind in _COUNTED:
            return f"must be absent or 1 for a {kind}" if value is not None and value != 1 else None
        if kind == EngagementType.WATCH_SECONDS and (value is None or not 0 < value <= settings.max_watch_seconds):
            return f"must be more than 0 and at most {settings.max_watch_seconds:g} seconds"
        if kind == EngagementType.SALE and (value is None or not 0 <= value <= settings.max_sale_amount):
            return f"must be an amount from 0 to {settings.max_sale_amount:g}"
        if kind == EngagementType.RATING and (value is None or not 1 <= value <= 5):
            return "must be a rating from 1 to 5"
        return None

    @staticmethod
    def _normalised(event: EngagementInput, owner_id: str) -> AcceptedEngagement:
        kind = EngagementType(event.type)
        assert event.at is not None  # validated
        return AcceptedEngagement(
            type=kind,
            course_id=event.course_id,
            owner_id=owner_id,
            lesson_id=event.lesson_id or None,
            media_id=event.media_id or None,
            at=event.at.astimezone(UTC),
            value=1.0 if kind in _COUNTED else float(event.value or 0),
        )

    async def _store_and_emit(
        self, session: AsyncSession, repository: EngagementRepository, identity: Identity, fact: AcceptedEngagement
    ) -> None:
        payload = ev.EngagementRecorded(user_id=identity.user_id, type=fact.type.value, course_id=fact.course_id)
        payload.at.FromDatetime(fact.at)
        payload.value = fact.value
        if fact.lesson_id:
            payload.lesson_id = fact.lesson_id
        if fact.media_id:
            payload.media_id = fact.media_id
        event_id = await self._outbox.add(
            session,
            topic=self._settings.engagement_topic,
            event_type=ENGAGEMENT_RECORDED,
            aggregate_id=fact.course_id,
            aggregate_version=0,
            actor_id=identity.user_id,
            payload=payload,
        )
        await repository.add(
            event_id=event_id,
            user_id=identity.user_id,
            type=fact.type.value,
            course_id=fact.course_id,
            lesson_id=fact.lesson_id,
            media_id=fact.media_id,
            at=fact.at,
            value=fact.value,
        )

    @staticmethod
    def _fingerprint(events: Sequence[EngagementInput]) -> str:
        body = [
            [e.type, e.course_id, e.lesson_id, e.media_id, e.at.isoformat() if e.at else None, e.value] for e in events
        ]
        return fingerprint("record_engagement", json.dumps(body))


def _type_problem(kind: EngagementType | None, identity: Identity) -> str | None:
    if kind is None:
        return f"must be one of {_TYPES}"
    if kind == EngagementType.SALE and not identity.is_service:
        return "sale events are recorded by a service (billing), not by users"
    return None


def _course_problem(course_id: str, owners: dict[str, str]) -> str | None:
    if not course_id:
        return "is required"
    if course_id not in owners:
        return "course not found"
    return None
