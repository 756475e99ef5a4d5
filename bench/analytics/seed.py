"""Seeding analytics' fact tables at platform scale, all in SQL (generate_series, no row in Python).

The rows are the ones analytics' consumer folds into (``facts.repository``, ``engagement``): one row
per course, lesson, media file, link and engagement event, plus the ``processed_events`` row the
idempotent consumer keeps for every event it applied (so the fold measured afterwards inserts into a
table of the size production has). Every value is a function of the row number, so two runs at the
same scale hold the same data.

Layout (instructor 0 is the busiest and holds a tenth of media files, links and engagement):

* courses: ``busiest_courses`` for instructor 0, ``other_courses`` for every other one;
  ``lessons_per_course`` lessons each, every tenth lesson without media, 5 lessons per chapter;
* media: every tenth file is instructor 0's, the rest are dealt round the others (uploads
  interleave, so one owner's rows are spread over the table); created over the last 365 days;
  1 in 20 processing, 1 in 20 failed, 1 in 33 soft deleted, 1 in 97 purged;
* links: 80 % of each owner's files are linked (usage_count = their links), 20 % unused;
* engagement: events in time order over the last 365 days (the table's physical order, as appends
  make it), every tenth one the busiest instructor's; 40 % views, 40 % watch_seconds,
  10 % completions, 5 % ratings, 5 % sales; players' events carry the lesson and its media.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg

BUSIEST = "instructor-0000"
CHUNK = 500_000  # engagement rows per INSERT ... SELECT (two run at once, one per core)


@dataclass(frozen=True)
class Plan:
    instructors: int
    busiest_courses: int
    other_courses: int
    lessons_per_course: int
    media: int
    links: int
    events: int

    @classmethod
    def at_scale(cls, scale: float, busiest_courses: int, other_courses: int, lessons_per_course: int) -> Plan:
        instructors = max(2, round(1_000 * scale))
        return cls(
            instructors=instructors,
            busiest_courses=busiest_courses,
            other_courses=other_courses,
            lessons_per_course=lessons_per_course,
            media=max(20 * instructors, round(100_000 * scale)),
            links=max(10 * instructors, round(1_000_000 * scale)),
            events=max(100, round(10_000_000 * scale)),
        )

    @property
    def courses(self) -> int:
        return self.busiest_courses + self.other_courses * (self.instructors - 1)

    @property
    def lessons(self) -> int:
        return self.courses * self.lessons_per_course

    @property
    def busiest_media(self) -> int:
        return self.media // 10

    @property
    def media_per_other(self) -> int:
        return (self.media - self.busiest_media) // (self.instructors - 1)

    def params(self) -> dict[str, int]:
        return {
            "i": self.instructors,
            "cb": self.busiest_courses,
            "co": self.other_courses,
            "lpc": self.lessons_per_course,
            "m": self.media,
            "mb": self.busiest_media,
            "mo": self.media_per_other,
            "l": self.links,
            "lb": self.links // 10,
            "e": self.events,
        }


# Pure functions of row numbers, shared by the statements below (dropped with the database).
FUNCTIONS = """
CREATE FUNCTION bench_owner(o bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT 'instructor-' || lpad(o::text, 4, '0') $$;
CREATE FUNCTION bench_course_owner(c bigint) RETURNS bigint IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN c <= {cb} THEN 0 ELSE 1 + (c - {cb} - 1) / {co} END $$;
CREATE FUNCTION bench_course(c bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT 'course-' || lpad(c::text, 6, '0') $$;
CREATE FUNCTION bench_lesson(l bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT 'lesson-' || lpad(l::text, 7, '0') $$;
CREATE FUNCTION bench_media(m bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT 'media-' || lpad(m::text, 7, '0') $$;
-- Media files are uploaded interleaved: every tenth is the busiest's (their k-th, from 0, is
-- number 10 (k + 1)); the others' are dealt round them in turn (the idx-th file that is not a
-- multiple of 10 is 1 + idx + idx / 9, and belongs to instructor 1 + idx % (instructors - 1)).
CREATE FUNCTION bench_media_owner(m bigint) RETURNS bigint IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN m % 10 = 0 THEN 0 ELSE 1 + (m - m / 10 - 1) % ({i} - 1) END $$;
CREATE FUNCTION bench_owner_media(o bigint, k bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE WHEN o = 0 THEN 10 * (k + 1)
                ELSE 1 + (o - 1 + k * ({i} - 1)) + (o - 1 + k * ({i} - 1)) / 9 END $$;
-- The media number lesson l holds (NULL for every tenth lesson): one of its owner's files.
CREATE FUNCTION bench_lesson_media(l bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE
        WHEN l % 10 = 0 THEN NULL
        WHEN bench_course_owner(1 + (l - 1) / {lpc}) = 0 THEN bench_owner_media(0, (l - 1) % {mb})
        ELSE bench_owner_media(bench_course_owner(1 + (l - 1) / {lpc}),
             (l - 1 - {lpc} * ({cb} + {co} * (bench_course_owner(1 + (l - 1) / {lpc}) - 1))) % {mo})
    END $$;
"""

COURSES = """
INSERT INTO courses (course_id, owner_id, title, version, created_at)
SELECT bench_course(c), bench_owner(bench_course_owner(c)), 'Course ' || c, 1, now() - interval '400 days'
FROM generate_series(1::bigint, {cb} + {co} * ({i} - 1)) AS c
"""

LESSONS = """
INSERT INTO lessons (lesson_id, course_id, chapter_id, title, media_id, added_at)
SELECT bench_lesson(l), bench_course(1 + (l - 1) / {lpc}), 'chapter-' || lpad(((l - 1) / 5)::text, 7, '0'),
       'Lesson ' || l, bench_media(bench_lesson_media(l)), now() - interval '400 days'
FROM generate_series(1::bigint, ({cb} + {co} * ({i} - 1)) * {lpc}) AS l
"""

MEDIA = """
INSERT INTO media_files (media_id, owner_id, title, file_name, mime_type, size_bytes, status, duration_seconds,
                         version, created_at, deleted_at, purged_at)
SELECT bench_media(m), bench_owner(bench_media_owner(m)),
       'Lecture ' || m, 'file-' || m || '.bin', mime,
       100000 + (m * 7919) % 2000000000,
       CASE m % 20 WHEN 0 THEN 'processing' WHEN 1 THEN 'failed' ELSE 'ready' END,
       CASE WHEN mime LIKE 'video/%' OR mime LIKE 'audio/%' THEN 60 + m % 3600 END,
       CASE WHEN m % 33 = 0 OR m % 97 = 0 THEN 3 ELSE 2 END,
       created,
       CASE WHEN m % 33 = 0 OR m % 97 = 0 THEN created + interval '1 hour' END,
       CASE WHEN m % 97 = 0 THEN created + interval '2 hours' END
FROM generate_series(1::bigint, {m}) AS m,
     LATERAL (SELECT (ARRAY['video/mp4', 'video/mp4', 'application/pdf', 'image/png', 'audio/mpeg'])[1 + m % 5] AS mime,
                     now() - make_interval(secs => ((m * 104729) % {m}) * 31536000.0 / {m}) AS created) AS a
"""

# Link n: the busiest's first tenth, dealt over 80 % of their files and all their courses; the rest
# dealt round the other instructors the same way.
LINKS = """
INSERT INTO media_links (media_id, resource_type, resource_id, course_id, linked_at)
SELECT bench_media(media), 'lesson', 'link-' || n, bench_course(course), now() - interval '300 days'
FROM generate_series(1::bigint, {l}) AS n,
     LATERAL (SELECT CASE WHEN n <= {lb} THEN 0 ELSE 1 + (n - {lb} - 1) % ({i} - 1) END AS o,
                     CASE WHEN n <= {lb} THEN n - 1 ELSE (n - {lb} - 1) / ({i} - 1) END AS k) AS a,
     LATERAL (SELECT bench_owner_media(o, k % greatest(1, (CASE WHEN o = 0 THEN {mb} ELSE {mo} END) * 8 / 10))
                         AS media,
                     CASE WHEN o = 0 THEN 1 + k % {cb} ELSE {cb} + {co} * (o - 1) + 1 + k % {co} END AS course) AS b
"""

USAGE = """
UPDATE media_files f SET usage_count = c.n
FROM (SELECT media_id, count(*) AS n FROM media_links GROUP BY media_id) c
WHERE f.media_id = c.media_id AND f.purged_at IS NULL
"""

# Event n (time order): every tenth is the busiest's (b-th of theirs), the rest the others' (k-th).
ENGAGEMENT = """
INSERT INTO engagement_events (id, user_id, type, course_id, lesson_id, media_id, at, value, recorded_at)
SELECT md5('event-' || n)::uuid::text, 'student-' || (n * 31) % 100000, kind, bench_course(course),
       CASE WHEN player THEN l.lesson_id END, CASE WHEN player THEN l.media_id END,
       at,
       CASE kind WHEN 'watch_seconds' THEN 1 + n % 600 WHEN 'rating' THEN 1 + n % 5
                 WHEN 'sale' THEN 5 + n % 200 + 0.99 ELSE 1 END,
       at
FROM generate_series({lo}::bigint, {hi}) AS n,
     LATERAL (SELECT now() - interval '365 days' + make_interval(secs => n * 31536000.0 / {e}) AS at,
                     CASE WHEN n % 20 < 8 THEN 'view' WHEN n % 20 < 16 THEN 'watch_seconds'
                          WHEN n % 20 < 18 THEN 'completion' WHEN n % 20 = 18 THEN 'rating' ELSE 'sale' END AS kind,
                     n % 20 < 18 AS player,
                     n % 10 = 0 AS busiest, n / 10 AS b, n - n / 10 - 1 AS k) AS a,
     LATERAL (SELECT CASE WHEN busiest THEN 1 + b % {cb}
                          ELSE {cb} + 1 + k % ({co} * ({i} - 1)) END AS course) AS c,
     LATERAL (SELECT (course - 1) * {lpc} + 1
                     + (CASE WHEN busiest THEN b / {cb} ELSE k / ({co} * ({i} - 1)) END) % {lpc} AS lesson) AS d
     -- The lesson's media from the lessons table: a hash join is a third of the cost of working it out.
     JOIN lessons l ON l.lesson_id = bench_lesson(d.lesson)
"""

PROCESSED = """
INSERT INTO processed_events (consumer, event_id, processed_at)
SELECT 'analytics', md5('event-' || n)::uuid::text, now() FROM generate_series({lo}::bigint, {hi}) AS n
"""


async def _engagement_chunks(url: str, plan: Plan, timeout: float) -> None:
    chunks = [(lo, min(lo + CHUNK - 1, plan.events)) for lo in range(1, plan.events + 1, CHUNK)]
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker() -> None:
        conn = await asyncpg.connect(url, timeout=30)
        try:
            while not queue.empty():
                lo, hi = queue.get_nowait()
                values = {**plan.params(), "lo": lo, "hi": hi}
                await conn.execute(ENGAGEMENT.format(**values), timeout=timeout)
                await conn.execute(PROCESSED.format(**values), timeout=timeout)
        finally:
            await conn.close()

    await asyncio.gather(worker(), worker())


BULK_TABLES = ("engagement_events", "processed_events", "media_links")


async def _drop_indexes(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """Drop the big tables' indexes and keys; answers (table, statement) to make each again, from
    the catalog, so the migrated schema comes back exactly. Building a btree once over 10M rows is
    many times faster than 10M random inserts into it (the ids are random UUIDs)."""
    keys = await conn.fetch(
        "SELECT conrelid::regclass::text AS tab, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid::regclass::text = ANY($1::text[]) AND contype IN ('p', 'u')",
        list(BULK_TABLES),
    )
    indexes = await conn.fetch(
        "SELECT tablename AS tab, indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1::text[]) "
        "AND indexname <> ALL($2::text[])",
        list(BULK_TABLES),
        [k["conname"] for k in keys],
    )
    again = [(k["tab"], f'ALTER TABLE {k["tab"]} ADD CONSTRAINT "{k["conname"]}" {k["def"]}') for k in keys]
    again += [(i["tab"], i["indexdef"]) for i in indexes]
    for i in indexes:
        await conn.execute(f'DROP INDEX "{i["indexname"]}"')
    for k in keys:
        await conn.execute(f'ALTER TABLE {k["tab"]} DROP CONSTRAINT "{k["conname"]}"')
    return again


async def _build_indexes(url: str, statements: list[tuple[str, str]], timeout: float) -> None:
    """Each table's indexes on a connection of its own."""

    async def build(table: str) -> None:
        conn = await asyncpg.connect(url, timeout=30)
        try:
            await conn.execute("SET maintenance_work_mem = '512MB'")
            for _, statement in (s for s in statements if s[0] == table):
                await conn.execute(statement, timeout=timeout)
        finally:
            await conn.close()

    await asyncio.gather(*(build(table) for table in BULK_TABLES))


async def seed(url: str, plan: Plan) -> dict[str, float]:
    """Load ``plan`` into the migrated database at ``url``; answers seconds per step."""
    timeout = 3600.0
    steps: dict[str, float] = {}
    conn = await asyncpg.connect(url, timeout=30)
    try:
        await conn.execute(FUNCTIONS.format(**plan.params()))
        indexes = await _drop_indexes(conn)
        for name, sql in [("courses", COURSES), ("lessons", LESSONS), ("media", MEDIA), ("links", LINKS)]:
            started = time.perf_counter()
            await conn.execute(sql.format(**plan.params()), timeout=timeout)
            steps[name] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute(USAGE, timeout=timeout)
        steps["usage counts"] = time.perf_counter() - started
        started = time.perf_counter()
        await _engagement_chunks(url, plan, timeout)
        steps["engagement + processed_events"] = time.perf_counter() - started
        started = time.perf_counter()
        await _build_indexes(url, indexes, timeout)
        steps[f"their {len(indexes)} indexes"] = time.perf_counter() - started
        started = time.perf_counter()
        # As autovacuum would have by then: statistics, and the visibility map index-only scans use.
        await conn.execute("VACUUM ANALYZE", timeout=timeout)
        steps["vacuum analyze"] = time.perf_counter() - started
    finally:
        await conn.close()
    return steps


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url, timeout=30)
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM courses) AS courses, (SELECT count(*) FROM lessons) AS lessons,
                      (SELECT count(*) FROM media_files) AS media, (SELECT count(*) FROM media_links) AS links,
                      (SELECT count(*) FROM engagement_events) AS events,
                      (SELECT count(*) FROM media_files WHERE owner_id = $1) AS busiest_media,
                      (SELECT count(*) FROM engagement_events e JOIN courses c USING (course_id)
                        WHERE c.owner_id = $1) AS busiest_events,
                      pg_size_pretty(pg_database_size(current_database())) AS size""",
            BUSIEST,
        )
        return dict(row)
    finally:
        await conn.close()
