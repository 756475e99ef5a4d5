"""The probe worker: a long-running part that leases due probe jobs, runs each probe in a child
process (``ProbeRunner``), and applies the outcome. Each step is its own transaction, so nothing is
held open while a file is read. ``concurrency`` probes run at once per process; several media
processes share the queue (SKIP LOCKED). A worker that dies mid-probe leaves a lease that runs
out, and the job is taken again; a graceful stop kills the probe and hands the job back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from lectern_common.db import UnitOfWork
from lectern_common.runtime import sleep_or_stop

from lectern_media.probing.runner import ProbeRunner
from lectern_media.probing.schemas import ProbeOutcome
from lectern_media.probing.service import ClaimedProbe, ProbingService

log = logging.getLogger(__name__)


class ProbeWorker:
    def __init__(
        self,
        uow: UnitOfWork,
        probing: ProbingService,
        runner: ProbeRunner,
        *,
        concurrency: int = 1,
        idle_poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._probing = probing
        self._runner = runner
        self._concurrency = concurrency
        self._idle = idle_poll_seconds
        self._clock = clock
        self.finished: dict[str, str] = {}  # media id -> what its last probe did (for tests and logs)

    async def run_once(self) -> str | None:
        """Probe one due file, if any; answers its media id (None when the queue had nothing due)."""
        async with self._uow() as session:
            claimed = await self._probing.claim(session, now=self._clock())
        if claimed is None or isinstance(claimed, str):
            return claimed
        outcome = await self._probe(claimed)
        async with self._uow() as session:
            result = await self._probing.finish(session, claimed.media_id, outcome, now=self._clock())
        self.finished[claimed.media_id] = result
        log.info("probe of %s (attempt %d): %s %s", claimed.media_id, claimed.attempt, result, outcome.reason)
        return claimed.media_id

    async def _probe(self, claimed: ClaimedProbe) -> ProbeOutcome:
        try:
            return await self._runner.run(claimed.request)
        except asyncio.CancelledError:
            # Stopping: the child is gone (the runner killed it); give the job back untried.
            try:
                async with self._uow() as session:
                    await asyncio.shield(self._probing.release(session, claimed.media_id))
            except Exception:
                log.warning("could not release the probe of %s; its lease will run out", claimed.media_id)
            raise

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                probed = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("probe worker step failed; retrying")
                probed = None
            if probed is None:
                await sleep_or_stop(stop, self._idle)

    async def aclose(self) -> None:
        """Stop the probe servers (``run`` does it on its way out too)."""
        await self._runner.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        loops = [asyncio.create_task(self._loop(stop)) for _ in range(self._concurrency)]
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopping, *loops], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [stopping, *loops]:
                task.cancel()
            await asyncio.gather(stopping, *loops, return_exceptions=True)
            await self._runner.aclose()
