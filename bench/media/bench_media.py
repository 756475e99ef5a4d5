"""Media service benchmark: usage of one file, a search page, and a soft delete of a file with
1,000 links, on a library of 100,000 files and 1,000,000 links.

Run by hand (never in CI):

    .venv/bin/python bench/media/bench_media.py [--files 100000] [--links 1000000] [--samples 200]

Uses the servers named by LECTERN_DATABASE_URL (admin URL) etc., or starts its own (the dev
stack's Infra). It creates a fresh database, migrates it with media's migrations, loads the data
with generate_series in SQL (one owner holds every file: the worst case for an owner-scoped search),
starts the real wiring (MediaApp) with its real gRPC server, and measures each call over a real
gRPC channel with an internal token. Course is replaced by an in-process CourseDirectory answering
from memory (the benchmark measures media, not course). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import grpc
from lectern.media.v1 import media_pb2, media_pb2_grpc
from lectern_common.devstack.infra import Infra
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.migrations import upgrade
from lectern_common.settings import DEV_INTERNAL_PRIVATE_KEY
from lectern_common.token_keys import SigningKey
from lectern_media.bootstrap import MIGRATIONS_DIR, MediaApp
from lectern_media.course_directory import ResolvedTarget
from lectern_media.links.schemas import ResourceRef
from lectern_media.settings import MediaSettings

# The dev key pair (the bench runs in dev): media verifies with its public half by default.
KEY = SigningKey.from_pem(DEV_INTERNAL_PRIVATE_KEY)
OWNER = "bench-owner"
WORDS = [f"topic{n:03d}" for n in range(100)]  # each word is in 1% of the titles
HEAVY_LINKS = 1000


class InMemoryCourses:
    """Every target exists and is editable; one published course per 100 lessons."""

    async def resolve(self, identity: Identity, refs: Sequence[ResourceRef]) -> dict[ResourceRef, ResolvedTarget]:
        return {
            r: ResolvedTarget(
                r,
                True,
                course_id=f"course-{hash(r.resource_id) % 1000}",
                can_edit=True,
                course_published=True,
                course_title="Bench course",
            )
            for r in refs
        }


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99, statistics.fmean(ordered)


async def measure(name: str, calls: list[Callable[[], Awaitable[object]]], *, warm_up: bool = True) -> None:
    if warm_up:
        await calls[0]()  # connections, prepared statements
    samples = []
    for call in calls:
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    p50, p99, mean = percentiles(samples)
    print(f"{name:<52} n={len(samples):<4} p50={p50:8.2f} ms  p99={p99:8.2f} ms  mean={mean:8.2f} ms")


async def load(admin_url: str, db: str, files: int, links: int, heavy: int) -> None:
    """files rows; ``heavy`` of them get 1,000 links each; the rest of ``links`` spread evenly."""
    conn = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + f"/{db}", timeout=30)
    try:
        start = time.perf_counter()
        await conn.execute(
            """
            INSERT INTO media_files (id, owner_id, title, file_name, mime_type, size_bytes, checksum, bucket,
                                     storage_key, status, version, upload_operation_id, created_at, updated_at)
            SELECT md5('bench-' || i)::uuid, $1,
                   'Lecture on ' || ($3::text[])[1 + i % 100] || ' part ' || i,
                   'file_' || substr(md5(i::text), 1, 12) || '.mp4',
                   'video/mp4', 1000000 + i, 'sha256:' || md5(i::text), 'bench', 'bench/' || i, 'ready', 2,
                   'bench-op-' || i, now() - make_interval(secs => i), now()
            FROM generate_series(1, $2) AS i
            """,
            OWNER,
            files,
            WORDS,
            timeout=600,
        )
        spread = links - heavy * HEAVY_LINKS
        await conn.execute(
            """
            INSERT INTO media_links (media_id, resource_type, resource_id, course_id, linked_by)
            SELECT md5('bench-' || ((1 + j % ($2::int - $3::int)) + $3::int))::uuid, 'lesson', 'lesson-' || j,
                   'course-' || (j % 1000), $4
            FROM generate_series(1, $1::int) AS j
            """,
            spread,
            files,
            heavy,
            OWNER,
            timeout=1200,
        )
        await conn.execute(
            """
            INSERT INTO media_links (media_id, resource_type, resource_id, course_id, linked_by)
            SELECT md5('bench-' || h)::uuid, 'lesson', 'heavy-' || h || '-' || k, 'course-' || (k % 20), $2
            FROM generate_series(1, $1::int) AS h, generate_series(1, 1000) AS k
            """,
            heavy,
            OWNER,
            timeout=600,
        )
        await conn.execute(
            """
            UPDATE media_files m SET usage_count = c.n
            FROM (SELECT media_id, count(*) AS n FROM media_links GROUP BY media_id) c
            WHERE m.id = c.media_id
            """,
            timeout=600,
        )
        await conn.execute(
            "INSERT INTO media_audit (media_id, owner_id, action, actor_id) "
            "SELECT id, owner_id, 'register', owner_id FROM media_files",
            timeout=600,
        )
        await conn.execute("VACUUM ANALYZE", timeout=600)
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM media_files) AS files, (SELECT count(*) FROM media_links) AS links"
        )
        print(f"loaded {counts['files']:,} files and {counts['links']:,} links in {time.perf_counter() - start:.1f} s")
        # Server-side plans and times of the queries behind the calls (independent of gRPC and of
        # the machine's other load).
        search = (
            f"SELECT * FROM media_files WHERE owner_id = '{OWNER}' AND search_text LIKE {{}} "
            "AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 21"
        )
        for label, sql in [
            ("usage, file with 1,000 links", f"SELECT * FROM media_links WHERE media_id = md5('bench-{heavy}')::uuid"),
            ("search, word in 1% of titles", search.format("'%topic042%'")),
            ("search, file-name fragment", search.format("'%' || substr(md5('777'), 1, 8) || '%'")),
            ("search, word in every title", search.format("'%lecture%'")),
        ]:
            plan = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql)]
            scans = [line.strip() for line in plan if "Scan" in line][:2]
            print(f"  plan {label:<32} {plan[-1].strip():<28} {' / '.join(scans)}")
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    infra = Infra(Path(tempfile.mkdtemp(prefix="bench-media-")))
    await infra.start()
    db = f"bench_media_{secrets.token_hex(3)}"
    try:
        url = await infra.create_database(db)
        await asyncio.to_thread(upgrade, url, MIGRATIONS_DIR)
        heavy = args.samples // 4 + 1
        await load(infra.urls.database_admin_url, db, args.files, args.links, heavy)
        settings = MediaSettings(database_url=url, grpc_port=0, database_pool_size=10)
        async with MediaApp(settings, course_directory=InMemoryCourses()) as app:
            stop = asyncio.Event()
            server = asyncio.create_task(app.grpc_server.run(stop))
            await app.grpc_server.started.wait()
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_server.bound_port}")
            stub = media_pb2_grpc.MediaServiceStub(channel)
            meta = (("authorization", f"Bearer {InternalTokenIssuer(KEY, 3600).issue(Identity(OWNER))}"),)
            rng = random.Random(7)

            def media_id(i: int) -> str:
                import hashlib
                import uuid

                return str(uuid.UUID(hashlib.md5(f"bench-{i}".encode()).hexdigest()))

            n = args.samples
            print(
                f"\nsetup: {args.files:,} files of one owner, {args.links:,} links ({heavy} files with "
                f"{HEAVY_LINKS} links, the rest ~{(args.links - heavy * HEAVY_LINKS) // (args.files - heavy)} "
                f"each); calls over gRPC, one at a time, {os.cpu_count()} CPUs\n"
            )
            await measure(
                "GetMediaUsage, typical file (~10 links)",
                [
                    lambda i=i: stub.GetMediaUsage(media_pb2.GetMediaUsageRequest(media_id=media_id(i)), metadata=meta)
                    for i in (rng.randint(heavy + 1, args.files) for _ in range(n))
                ],
            )
            await measure(
                "GetMediaUsage, file with 1,000 links",
                [
                    lambda: stub.GetMediaUsage(media_pb2.GetMediaUsageRequest(media_id=media_id(heavy)), metadata=meta)
                    for _ in range(n // 2)
                ],
            )
            for label, queries in [
                ("ListMedia search page (20), word in 1% of titles", [rng.choice(WORDS) for _ in range(n)]),
                (
                    "ListMedia search page (20), file-name fragment (1 hit)",
                    [
                        __import__("hashlib").md5(str(rng.randint(1, args.files)).encode()).hexdigest()[:8]
                        for _ in range(n)
                    ],
                ),
                ("ListMedia search page (20), word in every title", ["lecture"] * n),
            ]:
                await measure(
                    label,
                    [
                        lambda q=q: stub.ListMedia(media_pb2.ListMediaRequest(query=q, limit=20), metadata=meta)
                        for q in queries
                    ],
                )
            first = await stub.ListMedia(media_pb2.ListMediaRequest(query="topic042", limit=20), metadata=meta)
            await measure(
                "ListMedia search, second page via cursor",
                [
                    lambda: stub.ListMedia(
                        media_pb2.ListMediaRequest(query="topic042", limit=20, cursor=first.next_cursor), metadata=meta
                    )
                    for _ in range(n)
                ],
            )
            # Warm the delete path on heavy file 1, then measure the others (each is deleted once).
            await stub.DeleteMedia(
                media_pb2.DeleteMediaRequest(media_id=media_id(1), mode=1, force=True), metadata=meta
            )
            await measure(
                "DeleteMedia soft+force, file with 1,000 links",
                [
                    lambda i=i: stub.DeleteMedia(
                        media_pb2.DeleteMediaRequest(media_id=media_id(i), mode=1, force=True),
                        metadata=meta,
                        timeout=30,
                    )
                    for i in range(2, heavy)
                ],
                warm_up=False,
            )
            check = await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media_id(2)), metadata=meta)
            assert check.media.usage_count == 0 and check.media.HasField("deleted_at")
            await channel.close()
            stop.set()
            await server
    finally:
        await infra.drop_database(db)
        await infra.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
