"""The gateway bench's course action alone: getCourseEdit, then a one-rename save at the version
it read, over a real gRPC channel, on small courses (5 chapters x 4 lessons, one per user), with
``--users`` of them running at once. Prints this process's CPU per action (server and client
both live here; run it under py-spy to split them) and SQL statements per action.

    .venv/bin/python bench/course/action_loop.py [--users 20] [--actions 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import grpc
from bench_course import KEY, MIGRATIONS
from lectern.course.v1 import course_pb2 as pb
from lectern.course.v1 import course_pb2_grpc
from lectern_common.devstack.infra import Infra
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.migrations import upgrade
from lectern_course.bootstrap import CourseApp
from lectern_course.editing import schemas as ops
from lectern_course.process_tuning import tune_process
from lectern_course.settings import CourseSettings
from probes import EngineWatch


async def user_course(app: CourseApp, owner: Identity) -> str:
    async with app.uow() as session:
        course = await app.courses.create_course(session, owner, title="Action course", description="")
    operations: list[ops.Operation] = []
    for c in range(5):
        operations.append(ops.AddChapter(temp_id=f"c{c}", title=f"Chapter {c}"))
        operations += [ops.AddLesson(chapter_id=f"c{c}", title=f"Lesson {c}.{n}") for n in range(4)]
    async with app.uow() as session:
        await app.editing.save_changes(session, owner, course_id=course.id, expected_version=1, operations=operations)
    return course.id


async def user_loop(stub: course_pb2_grpc.CourseServiceStub, app: CourseApp, actions: int, done: list[int]) -> None:
    owner = Identity(user_id=f"action-{secrets.token_hex(4)}")
    metadata = (("authorization", f"Bearer {InternalTokenIssuer(KEY).issue(owner)}"),)
    course_id = await user_course(app, owner)
    for n in range(actions):
        read = await stub.GetCourseEdit(pb.GetCourseEditRequest(course_id=course_id), metadata=metadata, timeout=10)
        rename = pb.RenameChapterOp(chapter_id=read.course.chapters[0].id, title=f"Chapter 0 ({n})")
        await stub.SaveCourseChanges(
            pb.SaveCourseChangesRequest(
                course_id=course_id,
                expected_version=read.course.course.version,
                operations=[pb.Operation(rename_chapter=rename)],
                idempotency_key=secrets.token_hex(8),
            ),
            metadata=metadata,
            timeout=10,
        )
        done[0] += 1


def cache_line(app: CourseApp) -> str:
    trees = getattr(app, "edit_trees", None)  # None: code from before the cache
    return "" if trees is None else f"; tree cache hits {trees.hits}, misses {trees.misses}"


async def main(args: argparse.Namespace) -> None:
    infra = Infra(Path(tempfile.mkdtemp(prefix="lectern-bench-course-")))
    urls = await infra.start()
    name = f"bench_course_{secrets.token_hex(4)}"
    try:
        url = await infra.create_database(name)
        await asyncio.to_thread(upgrade, url, MIGRATIONS)
        settings = CourseSettings(database_url=url, grpc_port=0, kafka_bootstrap=urls.kafka_bootstrap)
        async with CourseApp(settings) as app:
            stop = asyncio.Event()
            server = asyncio.create_task(app.grpc.run(stop))
            await app.grpc.started.wait()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.bound_port}") as channel:
                stub = course_pb2_grpc.CourseServiceStub(channel)
                await asyncio.gather(*(user_loop(stub, app, 5, [0]) for _ in range(args.users)))  # warm-up
                engine = EngineWatch(app.engine)
                per_user = args.actions // args.users
                done = [0]
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.gather(*(user_loop(stub, app, per_user, done) for _ in range(args.users)))
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            stop.set()
            await server
        # Each user's course is created in its loop: 2 setup transactions per user are counted too.
        print(
            f"{done[0]} actions by {args.users} users in {wall:.2f} s: {done[0] / wall:.1f} actions/s, "
            f"process CPU {cpu * 1000 / done[0]:.3f} ms/action (server and client), "
            f"{engine.statements / done[0]:.2f} SQL/action (incl. setup of {args.users} courses)" + cache_line(app)
        )
    finally:
        await infra.drop_database(name)
        await infra.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--actions", type=int, default=2000)
    arguments = parser.parse_args()
    tune_process()
    asyncio.run(main(arguments))
