"""Course service benchmark: GetCourseEdit and a 20-operation SaveCourseChanges on a big course.

Run by hand (never in CI):

    .venv/bin/python bench/course/bench_course.py [--chapters 50] [--lessons 20] [--reads 200] [--saves 100]
        [--gc served|python-default]

Uses the servers named by LECTERN_DATABASE_URL (admin URL) etc., or starts its own (the dev stack's
Infra). It creates a fresh database, migrates it, loads one course of chapters x lessons, then
measures, in-process through the real wiring (CourseApp), and GetCourseEdit also over a real gRPC
channel. SQL statements are counted per call with a cursor-execute hook; the same figures for a
course 10x smaller show the count does not grow with the number of chapters.

Beside the clock, each measurement prints what the machine's load does not change (probes.py): the
garbage collections inside the measured calls (count per generation, pauses, the p99 without the
calls a collection paused), how many objects a full collection walks, the gc-tracked objects one
answer holds, this process's CPU time per call, and the pool (connections opened, most checked
out at once). ``--gc python-default`` runs the same workload without the served process's
collector tuning (lectern_course.process_tuning), to show what the collector costs the tail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from lectern.course.v1 import course_pb2 as pb
from lectern.course.v1 import course_pb2_grpc
from lectern_common.devstack.infra import Infra
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.migrations import upgrade
from lectern_common.settings import DEV_INTERNAL_PRIVATE_KEY
from lectern_common.token_keys import SigningKey
from lectern_course.bootstrap import CourseApp
from lectern_course.editing import schemas as ops
from lectern_course.process_tuning import tune_process
from lectern_course.settings import CourseSettings
from probes import Calls, EngineWatch, GcWatch, Window, heap_line, report, tracked_objects_held

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "course" / "migrations"
# The dev key pair (the bench runs in dev): course verifies with its public half by default.
KEY = SigningKey.from_pem(DEV_INTERNAL_PRIVATE_KEY)


async def measure(name: str, runs: int, call: Callable[[int], Awaitable[None]], watch: Watch) -> None:
    await call(-1)  # warm-up (connections, prepared statements)
    calls = Calls()
    window = watch.window(calls)
    for n in range(runs):
        window.start()
        await call(n)
        window.stop()
    report(name, calls, watch.engine.pool_size())


class Watch:
    """The collector and the engine, watched for the whole run; each measured call is a Window."""

    def __init__(self, app: CourseApp) -> None:
        self.gc = GcWatch().install()
        self.engine = EngineWatch(app.engine)

    def window(self, calls: Calls) -> Window:
        return Window(calls, self.gc, self.engine)


async def load_course(app: CourseApp, owner: Identity, chapters: int, lessons: int) -> tuple[str, int]:
    async with app.uow() as session:
        course = await app.courses.create_course(session, owner, title="Bench course", description="")
    operations: list[ops.Operation] = []
    for c in range(chapters):
        operations.append(ops.AddChapter(temp_id=f"c{c}", title=f"Chapter {c}"))
        operations += [ops.AddLesson(chapter_id=f"c{c}", title=f"Lesson {c}.{n}") for n in range(lessons)]
    async with app.uow() as session:
        result = await app.editing.save_changes(
            session, owner, course_id=course.id, expected_version=1, operations=operations
        )
    return course.id, result.course.course.version


async def bench_size(
    app: CourseApp, stub: course_pb2_grpc.CourseServiceStub, watch: Watch, chapters: int, lessons: int, args
) -> None:
    owner = Identity(user_id=f"bench-{secrets.token_hex(4)}")
    metadata = (("authorization", f"Bearer {InternalTokenIssuer(KEY).issue(owner)}"),)
    started = time.perf_counter()
    course_id, version = await load_course(app, owner, chapters, lessons)
    print(
        f"\ncourse of {chapters} chapters x {lessons} lessons = {chapters * lessons} lessons "
        f"(loaded in one save of {chapters * (lessons + 1)} ops, {time.perf_counter() - started:.2f} s)"
    )

    async def get_edit(_: int) -> None:
        async with app.uow.read_only() as session:
            edit = await app.courses.get_course_edit(session, owner, course_id)
        assert len(edit.chapters) == chapters

    async def get_edit_encoded(_: int) -> None:
        async with app.uow.read_only() as session:
            edit = await app.courses.get_encoded_course_edit(session, owner, course_id)
        assert edit.chapters

    async def get_edit_grpc(_: int) -> None:
        response = await stub.GetCourseEdit(pb.GetCourseEditRequest(course_id=course_id), metadata=metadata, timeout=10)
        assert len(response.course.chapters) == chapters

    async with app.uow.read_only() as session:
        edit = await app.courses.get_course_edit(session, owner, course_id)
    print(f"  one GetCourseEdit answer (CourseEditView) holds {tracked_objects_held(edit):,} gc-tracked objects")
    print(f"  {heap_line()}")
    await measure("GetCourseEdit (service, in-process, tree loaded)", args.reads, get_edit, watch)
    if hasattr(app.courses, "get_encoded_course_edit"):
        await measure(
            "GetCourseEdit (service, in-process, as served: cached tree)", args.reads, get_edit_encoded, watch
        )
    await measure("GetCourseEdit (over gRPC, incl. proto encode)", args.reads, get_edit_grpc, watch)
    await measure_saves(app, watch, owner, course_id, version, args.saves)


async def measure_saves(app: CourseApp, watch: Watch, owner: Identity, course_id: str, version: int, runs: int) -> None:
    state = {"version": version}
    calls = Calls()
    window = watch.window(calls)

    async def save_20(n: int) -> None:
        async with app.uow.read_only() as session:
            edit = await app.courses.get_course_edit(session, owner, course_id)
        # Reading the ids is setup, not part of the measured save: only the save is in the window.
        window.start()
        operations = twenty_operations(edit, n)
        async with app.uow() as session:
            result = await app.editing.save_changes(
                session, owner, course_id=course_id, expected_version=state["version"], operations=operations
            )
        encode_answer(app, session, result)
        window.stop()
        state["version"] = result.course.course.version

    await save_20(-1)  # warm-up
    del calls.times[:], calls.cpu[:], calls.statements[:], calls.collections[:]
    calls.connections_opened = calls.most_checked_out = 0
    for n in range(runs):
        await save_20(n)
    report("SaveCourseChanges, 20 operations (service + the answer's encoding)", calls, watch.engine.pool_size())


def encode_answer(app: CourseApp, session, result) -> None:
    """What the gRPC server does with a committed save's tree besides sending it: caches and
    encodes it once (or, in code from before the tree cache, encodes the answer message)."""
    if hasattr(app.editing, "cache_saved_tree"):
        app.editing.cache_saved_tree(session, result)
    else:
        from lectern_course.transport.grpc import fill_edit

        fill_edit(pb.CourseEdit(), result.course)


def twenty_operations(edit, n: int) -> list[ops.Operation]:
    ch = edit.chapters
    k = (n + 7) % len(ch)
    operations: list[ops.Operation] = []
    operations += [ops.RenameChapter(chapter_id=ch[(k + i) % len(ch)].id, title=f"Renamed {n}.{i}") for i in range(4)]
    operations += [ops.RenameLesson(lesson_id=ch[k].lessons[i].id, title=f"Lesson renamed {n}.{i}") for i in range(4)]
    operations += [ops.MoveLesson(lesson_id=ch[k].lessons[i].id, chapter_id=ch[k].id, position=0) for i in range(4)]
    operations += [ops.MoveChapter(chapter_id=ch[k].id, position=(k + 3) % len(ch)) for _ in range(2)]
    operations += [ops.AddChapter(temp_id="nc", title=f"New {n}", position=0)]
    operations += [ops.AddLesson(chapter_id="nc", temp_id="nl", title="New lesson")]
    operations += [ops.AddLesson(chapter_id=ch[k].id, title=f"Added {n}")]
    operations += [ops.MoveLesson(lesson_id="nl", chapter_id=ch[k].id, position=1)]
    operations += [ops.DeleteChapter(chapter_id="nc")]
    operations += [ops.DeleteLesson(lesson_id=ch[(k + 1) % len(ch)].lessons[-1].id)]
    assert len(operations) == 20
    return operations


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chapters", type=int, default=50)
    parser.add_argument("--lessons", type=int, default=20)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--saves", type=int, default=100)
    parser.add_argument(
        "--gc",
        choices=["served", "python-default"],
        default="served",
        help="served: the collector tuned as the served process tunes it (lectern_course.process_tuning); "
        "python-default: CPython's defaults, nothing frozen",
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    infra = Infra(Path(tempfile.mkdtemp(prefix="lectern-bench-course-")))
    urls = await infra.start()
    name = f"bench_course_{secrets.token_hex(4)}"
    try:
        url = await infra.create_database(name)
        await asyncio.to_thread(upgrade, url, MIGRATIONS)
        settings = CourseSettings(
            database_url=url,
            grpc_port=0,
            kafka_bootstrap=urls.kafka_bootstrap,
            max_operations_per_save=10_000,
        )
        print("Lectern course benchmark")
        print(f"  python {sys.version.split()[0]}, {os.cpu_count()} CPUs, PostgreSQL at {urls.database_admin_url}")
        print(f"  fresh database {name}, migrated; in-process CourseApp; gRPC on a local port")
        print(
            f"  garbage collector: {args.gc} "
            + ("(lectern_course tune_process, before the loop)" if args.gc == "served" else "(CPython's defaults)")
        )
        async with CourseApp(settings) as app:
            stop = asyncio.Event()
            server = asyncio.create_task(app.grpc.run(stop))
            await app.grpc.started.wait()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.bound_port}") as channel:
                stub = course_pb2_grpc.CourseServiceStub(channel)
                watch = Watch(app)
                await bench_size(app, stub, watch, args.chapters, args.lessons, args)
                await bench_size(app, stub, watch, max(args.chapters // 10, 1), args.lessons, args)
            stop.set()
            await server
        print(
            "\nSQL/call counts every statement sent (BEGIN/COMMIT not included). A 20-operation save is 4:"
            " the locked course with the caller's access, the outline, the one write statement with the"
            " version bump, and the outbox insert of its events that carries the relay's pg_notify"
            " (lectern_common OutboxWriter); a save with an idempotency key adds its claim and its result."
        )
    finally:
        await infra.drop_database(name)
        await infra.stop()


if __name__ == "__main__":
    # As `python -m lectern_course serve` does (run_service's tune_process): after the imports,
    # before the loop starts.
    arguments = parse_args()
    if arguments.gc == "served":
        tune_process()
    asyncio.run(main(arguments))
