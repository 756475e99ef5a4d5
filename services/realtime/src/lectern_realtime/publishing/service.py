"""The one core every door calls (HTTP bridge, Kafka consumer): validate, stamp, keep, fan out."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from lectern_realtime import errors
from lectern_realtime.broker.repository import ChannelStore, Published
from lectern_realtime.channels.schemas import Channel, validate_message

log = logging.getLogger(__name__)


class PublishService:
    def __init__(self, store: ChannelStore, *, max_message_bytes: int) -> None:
        self._store = store
        self._max_bytes = max_message_bytes

    async def publish(self, channel: object, message: Any, *, dedup_id: str | None = None) -> Published:
        """Publish ``message`` on ``channel``; answers its seq (or the earlier seq of a duplicate).

        Raises a validation error for a bad channel or message (nothing is published), or
        ``realtime.unavailable`` when Redis cannot take it.
        """
        target = Channel.parse(channel)
        body = validate_message(target, message, max_bytes=self._max_bytes)
        try:
            return await self._store.publish(target.name, body, dedup_id=dedup_id)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("publish to %s failed: %r", target.name, exc)
            raise errors.unavailable("realtime storage") from exc
