"""Probing against real PostgreSQL and S3 with real files: small videos PyAV encodes, and truncated
and random bytes. Each probe runs in the real child process (ProbeRunner); the queue, leases and
outcomes are the service's own."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from lectern.events.v1 import media_events_pb2
from lectern.media.v1 import media_pb2
from lectern_common.events import decode_event
from lectern_common.plumbing_tables import outbox_events
from lectern_common.testing.videos import make_video
from lectern_media.bootstrap import MediaApp
from lectern_media.models import AuditEntry, MediaFile, ProbeJob
from lectern_media.probing.runner import ProbeRunner
from lectern_media.probing.schemas import ProbeOutcome, ProbeVerdict
from lectern_media.probing.service import ProbingService
from lectern_media.probing.worker import ProbeWorker
from media_testing import new_user, register, token_for
from sqlalchemy import delete, func, select


async def only_this_file_queued(app: MediaApp, media_id: str) -> None:
    """Other tests' files stay in the queue unprobed; each test here probes its own."""
    async with app.uow() as session:
        await session.execute(delete(ProbeJob).where(ProbeJob.media_id != media_id))


async def probe_now(app: MediaApp, media_id: str, worker: ProbeWorker | None = None) -> str:
    await only_this_file_queued(app, media_id)
    worker = worker or app.probe_worker
    assert await worker.run_once() == media_id
    return worker.finished[media_id]


async def events_of(app: MediaApp, media_id: str) -> list[tuple[str, media_events_pb2.MediaFileChanged]]:
    async with app.uow.read_only() as session:
        values = (
            await session.execute(
                select(outbox_events.c.value).where(outbox_events.c.key == media_id).order_by(outbox_events.c.id)
            )
        ).scalars()
        decoded = [decode_event(value) for value in values]
    return [(e.type, e.unpack(media_events_pb2.MediaFileChanged)) for e in decoded if e.type.startswith("media.file.")]


async def test_a_real_video_becomes_ready_with_what_it_is(app, stub) -> None:
    owner = new_user()
    media = await register(
        app, owner, body=make_video(seconds=2, width=320, height=240), course_id="course-p", chapter_id="ch-p"
    )

    assert await probe_now(app, media.id) == "ready"

    got = (await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media.id), metadata=token_for(owner))).media
    assert got.status == media_pb2.MEDIA_STATUS_READY and got.duration_seconds == 2.0
    assert got.probe.container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert (got.probe.width, got.probe.height) == (320, 240)
    assert (got.probe.video_codec, got.probe.audio_codec) == ("h264", "aac")
    assert not got.HasField("error") and got.version == 2
    (_, registered), (ready_type, ready) = await events_of(app, media.id)
    assert ready_type == "media.file.ready" and ready.status == "ready" and ready.duration_seconds == 2.0
    assert list(ready.course_ids) == ["course-p"] and ready.chapter_id == "ch-p"
    assert ready.upload_operation_id == registered.upload_operation_id and ready.probe.width == 320
    async with app.uow.read_only() as session:
        audit = (
            await session.execute(
                select(AuditEntry.details).where(AuditEntry.media_id == media.id, AuditEntry.action == "probe")
            )
        ).scalar_one()
        left = (await session.execute(select(func.count()).where(ProbeJob.media_id == media.id))).scalar()
    assert (
        audit["status"] == "ready" and 0 < audit["bytesRead"] <= len(make_video(seconds=2, width=320, height=240)) + 1
    )
    assert left == 0


async def test_a_webm_video_and_a_pdf_are_what_they_claim(app, stub) -> None:
    owner = new_user()
    webm = await register(
        app, owner, file_name="a.webm", body=make_video(seconds=1, container="webm"), mime_type="video/webm"
    )
    assert await probe_now(app, webm.id) == "ready"
    pdf = await register(
        app, owner, file_name="notes.pdf", body=b"%PDF-1.7\n" + os.urandom(3000), mime_type="application/pdf"
    )
    assert await probe_now(app, pdf.id) == "ready"

    got = (await stub.GetMedia(media_pb2.GetMediaRequest(media_id=webm.id), metadata=token_for(owner))).media
    assert got.probe.container == "matroska,webm" and got.probe.video_codec == "vp8" and got.duration_seconds > 0.9
    got = (await stub.GetMedia(media_pb2.GetMediaRequest(media_id=pdf.id), metadata=token_for(owner))).media
    assert got.status == media_pb2.MEDIA_STATUS_READY and got.probe.container == "pdf"
    assert not got.HasField("duration_seconds")


async def test_truncated_random_and_mislabelled_files_fail_with_a_readable_reason(app, stub) -> None:
    owner = new_user()
    video = make_video(seconds=2)
    cases = {
        "truncated": (video[: len(video) // 2], "video/mp4", "is not a video that can be read"),
        "random": (os.urandom(200_000), "video/mp4", "is not a video that can be read"),
        "empty-ish": (b"\x00" * 16, "video/mp4", "is not a video that can be read"),
        "webm as mp4": (
            make_video(seconds=1, container="webm"),
            "video/mp4",
            "is a WebM/Matroska file, not the video/mp4",
        ),
        "random pdf": (os.urandom(5000), "application/pdf", "does not start like a PDF"),
    }
    for name, (body, mime, expected) in cases.items():
        media = await register(app, owner, file_name=f"{name}.bin", body=body, mime_type=mime)
        assert await probe_now(app, media.id) == "failed", name
        got = (await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media.id), metadata=token_for(owner))).media
        assert got.status == media_pb2.MEDIA_STATUS_FAILED, name
        assert expected in got.error, (name, got.error)
        assert not got.HasField("probe") and not got.HasField("duration_seconds")
        failed_type, failed = (await events_of(app, media.id))[-1]
        assert failed_type == "media.file.failed" and failed.status == "failed" and failed.error == got.error


async def test_finishing_twice_changes_nothing_the_second_time(app) -> None:
    owner = new_user()
    media = await register(app, owner, body=make_video(seconds=1))
    await only_this_file_queued(app, media.id)
    async with app.uow() as session:
        claimed = await app.probing.claim(session, now=datetime.now(UTC))
    assert claimed is not None and not isinstance(claimed, str)
    async with ProbeRunner() as runner:
        outcome = await runner.run(claimed.request)
    assert outcome.verdict is ProbeVerdict.READY

    async with app.uow() as session:
        first = await app.probing.finish(session, media.id, outcome, now=datetime.now(UTC))
    async with app.uow() as session:
        again = await app.probing.finish(session, media.id, outcome, now=datetime.now(UTC))
    async with app.uow() as session:
        other = await app.probing.finish(
            session, media.id, ProbeOutcome(ProbeVerdict.REJECTED, reason="late"), now=datetime.now(UTC)
        )

    assert (first, again, other) == ("ready", "skipped", "skipped")
    assert [t for t, _ in await events_of(app, media.id)] == ["media.file.registered", "media.file.ready"]


async def test_a_probe_cut_off_by_a_restart_is_taken_again_once_its_lease_runs_out(app) -> None:
    owner = new_user()
    media = await register(app, owner, body=make_video(seconds=1))
    await only_this_file_queued(app, media.id)
    started = datetime.now(UTC)
    async with app.uow() as session:
        claimed = await app.probing.claim(session, now=started)  # then the process "dies": no finish
    assert claimed is not None and not isinstance(claimed, str) and claimed.attempt == 1

    # A new process while the lease holds finds nothing to do; after it, it probes the file.
    during = ProbeWorker(app.uow, app.probing, ProbeRunner(), clock=lambda: started + timedelta(seconds=1))
    assert await during.run_once() is None
    await during.aclose()
    after = ProbeWorker(
        app.uow, app.probing, ProbeRunner(), clock=lambda: started + app.probing.lease + timedelta(seconds=1)
    )
    assert await after.run_once() == media.id and after.finished[media.id] == "ready"
    await after.aclose()
    async with app.uow.read_only() as session:
        status = (await session.execute(select(MediaFile.status).where(MediaFile.id == media.id))).scalar_one()
        attempt = (
            await session.execute(
                select(AuditEntry.details["attempt"]).where(
                    AuditEntry.media_id == media.id, AuditEntry.action == "probe"
                )
            )
        ).scalar_one()
    assert status == "ready" and attempt == 2


async def test_a_probe_is_bounded_in_time_memory_and_bytes_read(app, stub) -> None:
    owner = new_user()

    def worker_with(**limits: object) -> ProbeWorker:
        probing = ProbingService(
            app.probing._events,
            app.probing._storage,
            replace(app.probing.limits, **limits),
        )
        return ProbeWorker(app.uow, probing, runner)

    runner = ProbeRunner()  # limits travel with each request: one server serves every worker here
    slow = await register(app, owner, body=make_video(seconds=1))
    assert await probe_now(app, slow.id, worker_with(timeout_seconds=0.05)) == "failed"
    hungry = await register(app, owner, body=make_video(seconds=1))
    assert await probe_now(app, hungry.id, worker_with(memory_bytes=48 * 1024 * 1024)) == "failed"
    big = make_video(seconds=2, width=640, height=480, noise=True)  # ~5 MiB, its index at the end
    greedy = await register(app, owner, body=big)
    assert await probe_now(app, greedy.id, worker_with(max_read_bytes=256 * 1024, block_bytes=128 * 1024)) == "failed"
    thrifty = await register(app, owner, body=big)
    assert await probe_now(app, thrifty.id, worker_with(block_bytes=256 * 1024)) == "ready"
    await runner.aclose()

    async def error_of(media_id: str) -> str:
        return (
            await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media_id), metadata=token_for(owner))
        ).media.error

    assert await error_of(slow.id) == "reading this file took longer than 0.05 s"
    assert await error_of(hungry.id) == "reading this file needs more than 48 MiB of memory"
    assert await error_of(greedy.id) == "telling what this file is needs more than 256 KiB of it"
    async with app.uow.read_only() as session:
        read = (
            await session.execute(
                select(AuditEntry.details["bytesRead"]).where(
                    AuditEntry.media_id == thrifty.id, AuditEntry.action == "probe"
                )
            )
        ).scalar_one()
    assert 0 < read < len(big) / 2  # ranged reads: the header, the index at the end, the first frame
