"""Analytics benchmark at platform scale: dashboards for the busiest instructor, cold and warm, the
domain queries in parallel against in sequence, and the consumer's fold rate per CPU-second.

Run by hand (never in CI), one bench at a time:

    flock /tmp/bench.lock .venv/bin/python bench/analytics/bench_analytics.py [--scale 1] [--days 30]

Scale 1 is one platform of 1,000 instructors, 100k media files, 1M links and 10M engagement events
(plus 10M processed_events rows, as the consumer leaves them), the busiest instructor holding a
tenth of each; ``--scale 0.01`` is a 100k-event version for development. PostgreSQL and Redis are
those named by LECTERN_DATABASE_URL (admin URL) and LECTERN_REDIS_URL (``--database-url`` also
takes one, e.g. postgresql://postgres@127.0.0.1:5432/postgres), or the dev stack's own, started
here (no Kafka: the consumer handler is fed records directly, as the service's tests do). A fresh
database is created, migrated with analytics' alembic migrations, seeded in SQL (``seed.py``),
and dropped at the end.

Measured, in this order, through the real wiring (AnalyticsApp) with its real gRPC server running
in this process (the client on the same event loop, as bench/course does):

* EXPLAIN (ANALYZE, BUFFERS) of every statement each domain sends for the busiest instructor
  (captured from the engine while the domain runs), the plans written to ``--plans``;
* per dashboard, over gRPC and in-process (DashboardService, no gRPC): cold (the domains' cache
  generations bumped before each call, which is what a fold does: every domain misses, checked on
  the service's counters) and warm (cached), each with this process's CPU per call (over gRPC
  the server's and the client's; PostgreSQL's not); and the servicer's share: a warm call's cached bytes
  merged into the response, its encoding, and a miss's figures -> cached bytes (encode_domain);
* per dashboard, the domain queries run as the service runs them (asyncio.gather, one session
  each) against the same queries one after another, uncached: the ratio sequence / parallel;
* the fold: prebuilt Kafka-shaped records of real events through the EventConsumer (its
  transaction + dedup rows, then transport/consumers.py's handler, then the cache invalidation
  after commit): N/5 one at a time (``process``, a transaction each, for comparison) and N in
  fetched batches of 100 (``process_batch``, a transaction each, as the consumer loop runs);
  events per second and per analytics CPU-second (this process's CPU time, less its idle rate).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import grpc
import lectern_analytics
import psutil
from google.protobuf.message import Message
from lectern.analytics.v1 import analytics_pb2 as pb
from lectern.analytics.v1 import analytics_pb2_grpc
from lectern.events.v1 import course_events_pb2 as course_ev
from lectern.events.v1 import engagement_events_pb2 as engagement_ev
from lectern.events.v1 import media_events_pb2 as media_ev
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.domains import DASHBOARDS
from lectern_analytics.dashboards.repository import DashboardQueries
from lectern_analytics.dashboards.schemas import DashboardRequest
from lectern_analytics.dashboards.service import DOMAIN_QUERIES
from lectern_analytics.settings import AnalyticsSettings
from lectern_analytics.transport.grpc import encode_domain, result_to_pb
from lectern_common.devstack.infra import PostgresServer, RedisServer
from lectern_common.events import EVENT_ID_HEADER, EVENT_TYPE_HEADER, build_envelope
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.migrations import migrations_dir, upgrade
from lectern_common.settings import DEV_INTERNAL_PRIVATE_KEY
from lectern_common.token_keys import SigningKey
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))
from seed import BUSIEST, Plan, counts, seed

KEY = SigningKey.from_pem(DEV_INTERNAL_PRIVATE_KEY)
DASHBOARD_ENUMS = {
    "storage": pb.DASHBOARD_STORAGE,
    "content": pb.DASHBOARD_CONTENT,
    "roi": pb.DASHBOARD_ROI,
    "capacity": pb.DASHBOARD_CAPACITY,
}


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99, ordered[-1]


def line(name: str, samples: list[float], extra: str = "") -> str:
    p50, p99, worst = percentiles(samples)
    return f"  {name:<34} n={len(samples):<4} p50={p50:8.2f} ms  p99={p99:8.2f} ms  max={worst:8.2f} ms{extra}"


# -- servers ---------------------------------------------------------------------------------


class Servers:
    """PostgreSQL and Redis from the environment (or --database-url), else the dev stack's own."""

    def __init__(self, database_url: str | None) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="lectern-bench-analytics-"))
        self.admin_url = database_url or os.environ.get("LECTERN_DATABASE_URL")
        self.redis_url = os.environ.get("LECTERN_REDIS_URL")
        self.started: list[Any] = []

    async def start(self) -> None:
        if not self.admin_url:
            postgres = PostgresServer(self.run_dir)
            self.started.append(postgres)
            self.admin_url = await postgres.start(90)
        if not self.redis_url:
            redis = RedisServer(self.run_dir)
            self.started.append(redis)
            self.redis_url = await redis.start(30)

    def postgres_pid(self) -> int | None:
        for server in self.started:
            if isinstance(server, PostgresServer) and server.process is not None:
                return server.process.pid
        return None

    def database_url(self, name: str, driver: str = "postgresql") -> str:
        assert self.admin_url
        return f"{driver}://{self.admin_url.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"

    async def create(self, name: str) -> None:
        conn = await asyncpg.connect(self.admin_url, timeout=30)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop(self, name: str) -> None:
        conn = await asyncpg.connect(self.admin_url, timeout=30)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.started), return_exceptions=True)


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process and its children (PostgreSQL's backends)."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


# -- EXPLAIN ---------------------------------------------------------------------------------


class StatementCapture:
    """Keeps the statements (and their positional parameters) the app's engine sends while on."""

    def __init__(self, app: AnalyticsApp) -> None:
        self.on = False
        self.statements: list[tuple[str, tuple[Any, ...]]] = []
        event.listen(app.engine.sync_engine, "before_cursor_execute", self._hit)

    def _hit(self, conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        query = statement.lstrip().upper()
        if self.on and query.startswith(("SELECT", "WITH")) and query.strip() != "SELECT 1":
            self.statements.append((statement, tuple(parameters or ())))


async def explain_domains(app: AnalyticsApp, db_url: str, start: datetime, end: datetime, plans: Path) -> None:
    capture = StatementCapture(app)
    conn = await asyncpg.connect(db_url, timeout=30)
    print("\nEXPLAIN ANALYZE of each domain's statements, busiest instructor (plans in", plans, ")")
    out: list[str] = []
    try:
        for domain, query in DOMAIN_QUERIES.items():
            capture.statements.clear()
            capture.on = True
            async with app.uow.read_only() as session:
                await query(DashboardQueries(session), BUSIEST, None, start, end)
            capture.on = False
            total = 0.0
            summaries = []
            for n, (sql, params) in enumerate(capture.statements):
                rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
                plan = [r[0] for r in rows]
                ms = float(plan[-1].split(":")[1].split()[0])
                total += ms
                scans = sorted({p.strip().split("  (")[0].lstrip("-> ") for p in plan if "Scan" in p})
                summaries.append(f"    #{n + 1} {ms:8.2f} ms  {'; '.join(scans)[:150]}")
                out += [f"== {domain} #{n + 1}", sql, f"-- params {params}", *plan, ""]
            print(f"  {domain:<17} {len(capture.statements)} statements, {total:8.2f} ms server time")
            for summary in summaries:
                print(summary)
    finally:
        await conn.close()
    await asyncio.to_thread(plans.write_text, "\n".join(out))


# -- dashboards ------------------------------------------------------------------------------


async def timed(calls: int, call: Any, before: Any = None) -> list[float]:
    """Milliseconds of ``calls`` awaits of ``call()`` after one warm-up; ``before()`` is awaited
    ahead of each, outside the time."""
    samples: list[float] = []
    for _ in range(calls + 1):
        if before is not None:
            await before()
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples[1:]


def translation_ms(result: Any, runs: int = 20) -> tuple[float, float, float]:
    """The servicer's share of a call, per call: a miss's figures -> serialized messages (encode_domain,
    once per domain per miss, stored in the cache); a warm call's cached bytes -> the response's
    messages (a merge of bytes, ROI's derived ``combined`` too); the encoding."""
    started = time.perf_counter()
    for _ in range(runs):
        for name, answer in result.answers.items():
            encode_domain(name, answer.figures)
    parse = (time.perf_counter() - started) * 1000 / runs
    started = time.perf_counter()
    for _ in range(runs):
        message = result_to_pb(result)
    merge = (time.perf_counter() - started) * 1000 / runs
    started = time.perf_counter()
    for _ in range(runs):
        pb.GetDashboardResponse(domains=message).SerializeToString()
    return parse, merge, (time.perf_counter() - started) * 1000 / runs


async def bench_dashboards(app: AnalyticsApp, stub: Any, start: datetime, end: datetime, args: Any) -> None:
    metadata = (("authorization", f"Bearer {InternalTokenIssuer(KEY, 3600).issue(Identity(BUSIEST))}"),)
    service = app.dashboards
    print(f"\nGetDashboard for {BUSIEST}, range {start:%Y-%m-%d} .. {end:%Y-%m-%d} ({args.days} days)")
    for name, enum in DASHBOARD_ENUMS.items():
        domains = DASHBOARDS[name]
        request = pb.GetDashboardRequest(dashboard=enum)
        getattr(request, "from").FromDatetime(start)
        request.to.FromDatetime(end)
        in_process_request = DashboardRequest(name, start, end, None)

        async def over_grpc(request: pb.GetDashboardRequest = request) -> pb.GetDashboardResponse:
            return await stub.GetDashboard(request, metadata=metadata, timeout=120)

        async def in_process(request: DashboardRequest = in_process_request) -> Any:
            return await service.get_dashboard(Identity(BUSIEST), request)

        async def miss(domains: tuple[str, ...] = domains) -> None:
            await app.cache.invalidate([(BUSIEST, d) for d in domains])

        misses, hits = service.cache_misses, service.cache_hits
        cpu = time.process_time()
        cold = await timed(args.cold_calls, over_grpc, miss)
        cold_cpu = (time.process_time() - cpu) * 1000 / (args.cold_calls + 1)
        cold_in_process = await timed(args.cold_calls, in_process, miss)
        assert service.cache_misses - misses == 2 * len(domains) * (args.cold_calls + 1), "a cold call hit"
        cpu = time.process_time()
        warm = await timed(args.warm_calls, over_grpc)
        warm_cpu = (time.process_time() - cpu) * 1000 / (args.warm_calls + 1)
        cpu = time.process_time()
        warm_in_process = await timed(args.warm_calls, in_process)
        warm_in_process_cpu = (time.process_time() - cpu) * 1000 / (args.warm_calls + 1)
        assert service.cache_hits - hits == 2 * len(domains) * (args.warm_calls + 1), "a warm call missed"
        result = await in_process()
        parse, merge, encode = translation_ms(result)
        size = len(pb.GetDashboardResponse(domains=result_to_pb(result)).SerializeToString())
        print(f" {name} ({', '.join(domains)}; response {size / 1000:.1f} kB)")
        print(line("cold over gRPC (every domain a miss)", cold, f"   target p99 < 250 ms; CPU {cold_cpu:.1f} ms/call"))
        print(line("cold, service in-process", cold_in_process))
        print(line("warm over gRPC (cached)", warm, f"   target p99 < 5 ms; CPU {warm_cpu:.2f} ms/call"))
        print(line("warm, service in-process", warm_in_process, f"   CPU {warm_in_process_cpu:.2f} ms/call"))
        print(
            f"  servicer per call: warm, cached bytes -> messages {merge:.2f} ms; encoding {encode:.2f} ms;"
            f" a miss's figures -> cached bytes (encode_domain) {parse:.2f} ms"
        )


async def bench_parallel(app: AnalyticsApp, start: datetime, end: datetime, rounds: int) -> None:
    settings = app.settings

    async def compute(domain: str) -> None:
        async with app.uow.read_only() as session:
            queries = DashboardQueries(session, top_list_size=settings.top_list_size, currency=settings.currency)
            await DOMAIN_QUERIES[domain](queries, BUSIEST, None, start, end)

    print(f"\nDomain queries uncached, parallel (asyncio.gather, a session each) vs in sequence, {rounds} rounds each")
    for name, domains in DASHBOARDS.items():
        parallel: list[float] = []
        sequence: list[float] = []
        for _ in range(rounds + 1):  # alternating, so drift in the machine's load hits both alike
            started = time.perf_counter()
            await asyncio.gather(*(compute(d) for d in domains))
            parallel.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            for domain in domains:
                await compute(domain)
            sequence.append((time.perf_counter() - started) * 1000)
        par, seq = statistics.median(parallel[1:]), statistics.median(sequence[1:])
        print(
            f"  {name:<9} {len(domains)} domains  parallel p50={par:8.2f} ms  sequence p50={seq:8.2f} ms"
            f"  sequence/parallel = {seq / par:4.2f}x"
        )


# -- fold --------------------------------------------------------------------------------------


def record(event_type: str, payload: Message, aggregate_id: str, version: int = 1) -> SimpleNamespace:
    envelope = build_envelope(
        event_type=event_type, aggregate_id=aggregate_id, aggregate_version=version, actor_id="bench", payload=payload
    )
    headers = [(EVENT_ID_HEADER, envelope.id.encode()), (EVENT_TYPE_HEADER, event_type.encode())]
    return SimpleNamespace(value=envelope.SerializeToString(), headers=headers, topic="bench", partition=0, offset=0)


def fold_records(plan: Plan, n: int) -> dict[str, list[SimpleNamespace]]:
    """Events of the mix a platform sends: mostly engagement, on the busiest's courses and others'."""
    now = datetime.now(UTC)
    kinds = ["view", "watch_seconds", "view", "watch_seconds", "completion", "rating"]
    engagement, media, links, lessons = [], [], [], []
    for i in range(n):
        course = 1 + i % plan.courses
        course_id, lesson = f"course-{course:06d}", (course - 1) * plan.lessons_per_course + 1
        payload = engagement_ev.EngagementRecorded(
            user_id=f"student-{i}", type=kinds[i % len(kinds)], course_id=course_id, lesson_id=f"lesson-{lesson:07d}"
        )
        payload.at.FromDatetime(now - timedelta(seconds=i))
        payload.value = 30.0 if payload.type == "watch_seconds" else 1.0
        engagement.append(record("engagement.recorded", payload, course_id))
    for i in range(max(1, n // 10)):
        media_id, owner = f"bench-fold-media-{uuid.uuid4()}", f"instructor-{i % plan.instructors:04d}"
        file = media_ev.MediaFileChanged(
            media_id=media_id, owner_id=owner, title="t", file_name="f.mp4", mime_type="video/mp4",
            size_bytes=1_000_000 + i, status="ready", version=2, duration_seconds=60,
        )  # fmt: skip
        media.append(record("media.file.ready", file, media_id, 2))
        link = media_ev.MediaLinkChanged(
            media_id=media_id, owner_id=owner, resource_type="lesson", resource_id=f"bench-fold-lesson-{i}",
            course_id=f"course-{1 + i % plan.courses:06d}", usage_count=1, reason="user",
        )  # fmt: skip
        links.append(record("media.link.added", link, media_id, 3))
        course_id = f"course-{1 + i % plan.courses:06d}"
        changed = course_ev.LessonChanged(
            course_id=course_id, chapter_id="bench-chapter", lesson_id=f"bench-fold-lesson-{i}", title="New lesson",
            owner_id=owner, media_id=media_id,
        )  # fmt: skip
        lessons.append(record("course.lesson.added", changed, course_id))
    return {
        "engagement.recorded": engagement,
        "media.file.ready": media,
        "media.link.added": links,
        "course.lesson.added": lessons,
    }


async def bench_fold(app: AnalyticsApp, plan: Plan, n: int, postgres_pid: int | None) -> None:
    # The process's own idle CPU (gRPC server, pool pings) over a second, subtracted below.
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(1.0)
    idle_rate = (time.process_time() - cpu) / (time.perf_counter() - wall)
    print(f"\nFold (idle CPU of this process: {idle_rate * 1000:.1f} ms per second, subtracted)")
    warm_up = fold_records(plan, 1)["engagement.recorded"][0]
    await app.consumer.process(warm_up)  # connection, statement caches

    async def one_at_a_time(records: list[SimpleNamespace]) -> None:
        for one in records:
            assert await app.consumer.process(one) is True

    async def in_batches(records: list[SimpleNamespace]) -> None:
        # As the consumer loop hands them over: each topic's fetch of up to 100 records.
        for at in range(0, len(records), 100):
            assert await app.consumer.process_batch(records[at : at + 100]) is True

    alone = max(100, n // 5)
    print(f" {alone:,} engagement events (+ 30 % others) one at a time (a transaction each), as before")
    await fold_rate(fold_records(plan, alone), one_at_a_time, idle_rate, postgres_pid)
    fallbacks = app.consumer.fallbacks
    print(f" {n:,} engagement events (+ 30 % others) in fetched batches of 100 (EventConsumer.process_batch)")
    await fold_rate(fold_records(plan, n), in_batches, idle_rate, postgres_pid)
    assert app.consumer.fallbacks == fallbacks, "a batch fell back to one event at a time"


async def fold_rate(
    batches: dict[str, list[SimpleNamespace]],
    apply: Callable[[list[SimpleNamespace]], Awaitable[None]],
    idle_rate: float,
    postgres_pid: int | None,
) -> None:
    total_events, total_cpu, total_wall, total_pg = 0, 0.0, 0.0, 0.0
    for kind, records in batches.items():
        pg0, cpu, wall = tree_cpu(postgres_pid), time.process_time(), time.perf_counter()
        await apply(records)
        elapsed = time.perf_counter() - wall
        used = max(1e-9, time.process_time() - cpu - idle_rate * elapsed)
        pg = tree_cpu(postgres_pid) - pg0
        total_events, total_cpu, total_wall, total_pg = (
            total_events + len(records), total_cpu + used, total_wall + elapsed, total_pg + pg
        )  # fmt: skip
        pg_text = f"  PostgreSQL {pg / len(records) * 1e6:6.0f} us/event" if postgres_pid else ""
        print(
            f"  {kind:<22} n={len(records):<6} {len(records) / elapsed:7.0f} events/s  "
            f"{len(records) / used:7.0f} events per analytics CPU-second ({used / len(records) * 1e6:5.0f} us/event)"
            f"{pg_text}"
        )
    pg_text = f"; PostgreSQL {total_pg / total_events * 1e6:.0f} us CPU/event" if postgres_pid else ""
    print(
        f"  all                    n={total_events:<6} {total_events / total_wall:7.0f} events/s  "
        f"{total_events / total_cpu:7.0f} events per analytics CPU-second   target >= 5,000{pg_text}"
    )


# -- main --------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    plan = Plan.at_scale(args.scale, args.busiest_courses, args.other_courses, args.lessons_per_course)
    servers = Servers(args.database_url)
    await servers.start()
    name = f"bench_analytics_{secrets.token_hex(4)}"
    load_before = os.getloadavg()
    try:
        await servers.create(name)
        url = servers.database_url(name)
        await asyncio.to_thread(
            upgrade, servers.database_url(name, "postgresql+asyncpg"), migrations_dir(None, lectern_analytics.__file__)
        )
        print("Lectern analytics benchmark")
        print(f"  python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load_before}")
        print(f"  PostgreSQL {servers.admin_url} (fresh database {name}, migrated), Redis {servers.redis_url}")
        print(f"  scale {args.scale}: {plan}")
        started = time.perf_counter()
        steps = await seed(url, plan)
        seeded = time.perf_counter() - started
        print(f"  seeded in {seeded:.1f} s: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
        print(f"  rows: {await counts(url)}")
        settings = AnalyticsSettings(
            database_url=servers.database_url(name, "postgresql+asyncpg"),
            redis_url=servers.redis_url,
            grpc_port=0,
            database_pool_size=10,
            cache_key_prefix=f"bench:analytics:{secrets.token_hex(4)}",
        )
        end = datetime.now(UTC).replace(microsecond=0)
        start = end - timedelta(days=args.days)
        async with AnalyticsApp(settings) as app:
            print("  AnalyticsApp in-process; its gRPC server on a local port, the client on the same loop")
            await explain_domains(app, url, start, end, Path(args.plans))
            stop = asyncio.Event()
            server = asyncio.create_task(app.grpc.run(stop))
            await app.grpc.started.wait()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.bound_port}") as channel:
                stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
                await bench_dashboards(app, stub, start, end, args)
            stop.set()
            await server
            await bench_parallel(app, start, end, args.parallel_rounds)
            await bench_fold(app, plan, args.fold_events, servers.postgres_pid())
        print(f"\nload average before {load_before}, after {os.getloadavg()}")
    finally:
        await servers.drop(name)
        await servers.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 10M events, 1M links, 100k files")
    parser.add_argument("--busiest-courses", type=int, default=100)
    parser.add_argument("--other-courses", type=int, default=5, help="courses of every other instructor")
    parser.add_argument("--lessons-per-course", type=int, default=20)
    parser.add_argument("--days", type=int, default=30, help="the dashboards' range, ending now")
    parser.add_argument("--cold-calls", type=int, default=50)
    parser.add_argument("--warm-calls", type=int, default=300)
    parser.add_argument("--parallel-rounds", type=int, default=20)
    parser.add_argument("--fold-events", type=int, default=5000, help="engagement events (+ 30 %% others)")
    parser.add_argument("--database-url", help="admin URL of a PostgreSQL to use (default: env or own)")
    parser.add_argument("--plans", default="/tmp/bench_analytics_plans.txt", help="where the full plans go")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
