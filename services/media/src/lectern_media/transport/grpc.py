"""MediaServicer: proto <-> schema mapping, one unit of work per RPC, idempotency keys. Rules live
in the services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from lectern.media.v1 import media_pb2, media_pb2_grpc
from lectern_common.db import UnitOfWork
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.idempotency import IdempotencyStore, fingerprint
from lectern_common.identity import Identity, require_identity
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.audit.service import AuditService
from lectern_media.deletion.schemas import AffectedCourse, DeleteMode, DeleteRequest, DeletionOutcome
from lectern_media.deletion.service import DeletionService
from lectern_media.library.schemas import ListQuery, MediaStatus, MediaView
from lectern_media.library.service import LibraryService
from lectern_media.links.schemas import LinkView, ResourceType
from lectern_media.links.service import LinkService, check_ref

SERVICE_NAME = media_pb2.DESCRIPTOR.services_by_name["MediaService"].full_name

R = TypeVar("R", bound=Message)
OutcomeT = TypeVar("OutcomeT")

_STATUS_TO_PROTO = {
    MediaStatus.PROCESSING: media_pb2.MEDIA_STATUS_PROCESSING,
    MediaStatus.READY: media_pb2.MEDIA_STATUS_READY,
    MediaStatus.FAILED: media_pb2.MEDIA_STATUS_FAILED,
}
_STATUS_FROM_PROTO = {v: k for k, v in _STATUS_TO_PROTO.items()}
_TYPE_TO_PROTO = {
    ResourceType.COURSE: media_pb2.RESOURCE_TYPE_COURSE,
    ResourceType.CHAPTER: media_pb2.RESOURCE_TYPE_CHAPTER,
    ResourceType.LESSON: media_pb2.RESOURCE_TYPE_LESSON,
}
_TYPE_FROM_PROTO = {v: k for k, v in _TYPE_TO_PROTO.items()}
_MODE_FROM_PROTO = {media_pb2.DELETE_MODE_SOFT: DeleteMode.SOFT, media_pb2.DELETE_MODE_HARD: DeleteMode.HARD}
MAX_IDEMPOTENCY_KEY = 200


def _ts(value: datetime) -> Timestamp:
    # Direct arithmetic: Timestamp.FromDatetime is a hot spot when a file has 1,000 links.
    micros = int(value.timestamp() * 1_000_000) if value.tzinfo else int(value.replace(tzinfo=UTC).timestamp() * 1e6)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)


def media_to_proto(view: MediaView) -> media_pb2.Media:
    message = media_pb2.Media(
        id=view.id,
        owner_id=view.owner_id,
        title=view.title,
        file_name=view.file_name,
        mime_type=view.mime_type,
        size_bytes=view.size_bytes,
        checksum=view.checksum,
        status=_STATUS_TO_PROTO[view.status],
        usage_count=view.usage_count,
        version=view.version,
        created_at=_ts(view.created_at),
    )
    if view.deleted_at is not None:
        message.deleted_at.CopyFrom(_ts(view.deleted_at))
    if view.duration_seconds is not None:
        message.duration_seconds = view.duration_seconds
    if view.error:
        message.error = view.error
    if view.probe:
        probe = media_pb2.MediaProbe(container=str(view.probe.get("container", "")))
        for name in ("duration_seconds", "width", "height", "video_codec", "audio_codec"):
            if view.probe.get(name) is not None:
                setattr(probe, name, view.probe[name])
        message.probe.CopyFrom(probe)
    return message


def link_to_proto(link: LinkView) -> media_pb2.Link:
    return media_pb2.Link(
        media_id=link.media_id,
        resource_type=_TYPE_TO_PROTO[link.resource_type],
        resource_id=link.resource_id,
        course_id=link.course_id,
        linked_by=link.linked_by,
        linked_at=_ts(link.linked_at),
    )


def _affected_to_proto(course: AffectedCourse) -> media_pb2.AffectedCourse:
    return media_pb2.AffectedCourse(
        course_id=course.course_id, title=course.title, published=course.published, link_count=course.link_count
    )


class _KeptAnswer(Generic[OutcomeT, R]):
    """A mutation's response kept under its idempotency key (lectern_common.idempotency): a repeat of
    the same request answers the first response and changes nothing; the key commits with the change.
    Called with the service's outcome, it words the response (a DeletionAnswer for DeleteMedia)."""

    def __init__(
        self,
        store: IdempotencyStore,
        identity: Identity,
        name: str,
        request: Message,
        key: str,
        response_type: type[R],
        to_response: Callable[[OutcomeT], R],
    ) -> None:
        self._store = store
        self._scope = f"media.{name}:{identity.user_id}"
        self._name = name
        self._request = request
        self._key = key
        self._response_type = response_type
        self._to_response = to_response

    def __call__(self, outcome: OutcomeT) -> R:
        return self._to_response(outcome)

    async def replay(self, session: AsyncSession) -> R | None:
        if len(self._key) > MAX_IDEMPOTENCY_KEY:
            raise DomainError(
                "media.invalid_idempotency_key",
                "idempotency key too long",
                ErrorKind.VALIDATION_FAILED,
                fields={"idempotencyKey": f"must be at most {MAX_IDEMPOTENCY_KEY} characters"},
            )
        if not self._key:
            return None
        stored = await self._store.begin(
            session,
            scope=self._scope,
            key=self._key,
            request_fingerprint=fingerprint(self._name, self._request.SerializeToString(deterministic=True)),
        )
        return None if stored is None else self._response_type.FromString(stored)

    async def remember(self, session: AsyncSession, answer: R) -> None:
        if self._key:
            await self._store.complete(session, scope=self._scope, key=self._key, response=answer.SerializeToString())


def _same(response: R) -> R:
    return response


def _deletion_to_proto(outcome: DeletionOutcome) -> media_pb2.DeleteMediaResponse:
    response = media_pb2.DeleteMediaResponse(
        media=media_to_proto(outcome.media),
        removed_links=[link_to_proto(lk) for lk in outcome.removed_links],
        affected_courses=[_affected_to_proto(c) for c in outcome.affected_courses],
        dry_run=outcome.dry_run,
    )
    if outcome.bytes_reclaimed is not None:
        response.bytes_reclaimed = outcome.bytes_reclaimed
    return response


class MediaServicer(media_pb2_grpc.MediaServiceServicer):
    def __init__(
        self,
        *,
        uow: UnitOfWork,
        library: LibraryService,
        links: LinkService,
        deletion: DeletionService,
        audit: AuditService,
        idempotency: IdempotencyStore,
    ) -> None:
        self._uow = uow
        self._library = library
        self._links = links
        self._deletion = deletion
        self._audit = audit
        self._idempotency = idempotency

    async def _mutate(
        self,
        name: str,
        request: Message,
        key: str,
        response_type: type[R],
        produce: Callable[[AsyncSession, Identity], Awaitable[R]],
    ) -> R:
        """Run a mutation in one transaction, its response kept under its idempotency key."""
        identity = require_identity()
        kept = _KeptAnswer(self._idempotency, identity, name, request, key, response_type, _same)
        async with self._uow() as session:
            first = await kept.replay(session)
            if first is not None:
                return first
            response = await produce(session, identity)
            await kept.remember(session, response)
            return response

    async def ListMedia(self, request: media_pb2.ListMediaRequest, context: grpc.aio.ServicerContext) -> Any:
        query = ListQuery(
            query=request.query,
            status=_STATUS_FROM_PROTO.get(request.status),
            include_deleted=request.include_deleted,
            cursor=request.cursor,
            limit=request.limit,
        )
        async with self._uow.read_only() as session:
            page = await self._library.list_media(session, require_identity(), query)
        return media_pb2.ListMediaResponse(items=[media_to_proto(m) for m in page.items], next_cursor=page.next_cursor)

    async def GetMedia(self, request: media_pb2.GetMediaRequest, context: grpc.aio.ServicerContext) -> Any:
        async with self._uow.read_only(snapshot=True) as session:  # the count and the links agree
            media, links = await self._library.get(session, require_identity(), request.media_id)
        return media_pb2.GetMediaResponse(media=media_to_proto(media), links=[link_to_proto(lk) for lk in links])

    async def UpdateMedia(self, request: media_pb2.UpdateMediaRequest, context: grpc.aio.ServicerContext) -> Any:
        async def produce(session: AsyncSession, identity: Identity) -> media_pb2.UpdateMediaResponse:
            media = await self._library.rename(
                session,
                identity,
                request.media_id,
                expected_version=request.expected_version,
                title=request.title if request.HasField("title") else None,
            )
            return media_pb2.UpdateMediaResponse(media=media_to_proto(media))

        return await self._mutate(
            "UpdateMedia", request, request.idempotency_key, media_pb2.UpdateMediaResponse, produce
        )

    async def GetMediaUsage(self, request: media_pb2.GetMediaUsageRequest, context: grpc.aio.ServicerContext) -> Any:
        async with self._uow.read_only(snapshot=True) as session:  # the count and the links agree
            usage = await self._links.usage(session, require_identity(), request.media_id)
        return media_pb2.GetMediaUsageResponse(count=usage.count, links=[link_to_proto(lk) for lk in usage.links])

    async def LinkMedia(self, request: media_pb2.LinkMediaRequest, context: grpc.aio.ServicerContext) -> Any:
        ref = check_ref(_TYPE_FROM_PROTO.get(request.resource_type), request.resource_id)

        async def produce(session: AsyncSession, identity: Identity) -> media_pb2.LinkMediaResponse:
            link = await self._links.link(session, identity, request.media_id, ref)
            return media_pb2.LinkMediaResponse(link=link_to_proto(link))

        return await self._mutate("LinkMedia", request, request.idempotency_key, media_pb2.LinkMediaResponse, produce)

    async def UnlinkMedia(self, request: media_pb2.UnlinkMediaRequest, context: grpc.aio.ServicerContext) -> Any:
        ref = check_ref(_TYPE_FROM_PROTO.get(request.resource_type), request.resource_id)

        async def produce(session: AsyncSession, identity: Identity) -> media_pb2.UnlinkMediaResponse:
            removed = await self._links.unlink(session, identity, request.media_id, ref)
            return media_pb2.UnlinkMediaResponse(removed=removed)

        return await self._mutate(
            "UnlinkMedia", request, request.idempotency_key, media_pb2.UnlinkMediaResponse, produce
        )

    async def DeleteMedia(self, request: media_pb2.DeleteMediaRequest, context: grpc.aio.ServicerContext) -> Any:
        identity = require_identity()
        delete = DeleteRequest(
            media_id=request.media_id,
            mode=_MODE_FROM_PROTO.get(request.mode),
            force=request.force,
            dry_run=request.dry_run,
        )
        answer = _KeptAnswer(
            self._idempotency,
            identity,
            "DeleteMedia",
            request,
            request.idempotency_key,
            media_pb2.DeleteMediaResponse,
            _deletion_to_proto,
        )
        return await self._deletion.run_delete(identity, delete, answer)

    async def RestoreMedia(self, request: media_pb2.RestoreMediaRequest, context: grpc.aio.ServicerContext) -> Any:
        async def produce(session: AsyncSession, identity: Identity) -> media_pb2.RestoreMediaResponse:
            outcome = await self._deletion.restore(
                session, identity, request.media_id, restore_links=request.restore_links
            )
            return media_pb2.RestoreMediaResponse(
                media=media_to_proto(outcome.media),
                restored_links=[link_to_proto(lk) for lk in outcome.restored_links],
                skipped_links=[
                    media_pb2.SkippedLink(link=link_to_proto(s.link), reason=s.reason.value)
                    for s in outcome.skipped_links
                ],
            )

        return await self._mutate(
            "RestoreMedia", request, request.idempotency_key, media_pb2.RestoreMediaResponse, produce
        )

    async def ListMediaAudit(self, request: media_pb2.ListMediaAuditRequest, context: grpc.aio.ServicerContext) -> Any:
        async with self._uow.read_only() as session:
            page = await self._audit.page(
                session, require_identity(), request.media_id, cursor=request.cursor, limit=request.limit
            )
        items = []
        for entry in page.items:
            details = Struct()
            ParseDict(entry.details, details)
            items.append(
                media_pb2.AuditEntry(action=entry.action, actor=entry.actor, at=_ts(entry.at), details=details)
            )
        return media_pb2.ListMediaAuditResponse(items=items, next_cursor=page.next_cursor)

    async def BatchGetMediaSummaries(
        self, request: media_pb2.BatchGetMediaSummariesRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        async with self._uow.read_only() as session:
            summaries = await self._library.summaries(session, require_identity(), list(request.media_ids))
        items = []
        for s in summaries:
            item = media_pb2.MediaSummary(
                id=s.id, file_name=s.file_name, status=_STATUS_TO_PROTO[s.status], size_bytes=s.size_bytes
            )
            if s.duration_seconds is not None:
                item.duration_seconds = s.duration_seconds
            items.append(item)
        return media_pb2.BatchGetMediaSummariesResponse(items=items)
