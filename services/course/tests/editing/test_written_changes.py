"""What a save writes (editing.repository's one statement) is what it answered: every kind of
operation in one save, then the tree read back from the database without the cache."""

from __future__ import annotations

from lectern_course.bootstrap import CourseApp
from lectern_course.courses.schemas import CoursePatch
from lectern_course.editing import schemas as ops

from .test_save_changes import assert_dense, save, seeded, tree


async def test_every_kind_of_change_in_one_save_is_written_as_answered(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seed = await seeded(app, owner, chapters=3, lessons=3)
    ids = seed.id_map
    operations: list[ops.Operation] = [
        ops.AddChapter(temp_id="new", title="New chapter", position=1),
        ops.AddLesson(chapter_id="new", temp_id="nl", title="New lesson", media_id="m-unknown"),
        ops.RenameChapter(chapter_id=ids["c0"], title="Renamed chapter"),
        ops.MoveChapter(chapter_id=ids["c2"], position=0),
        ops.RenameLesson(lesson_id=ids["c0l0"], title="Renamed lesson"),
        ops.MoveLesson(lesson_id=ids["c0l1"], chapter_id="new", position=0),
        ops.MoveLesson(lesson_id=ids["c1l2"], chapter_id=ids["c1"], position=0),
        ops.SetLessonMedia(lesson_id=ids["c1l0"], media_id="m-other"),
        ops.DeleteLesson(lesson_id=ids["c2l1"]),
        ops.DeleteChapter(chapter_id=ids["c1"]),
        ops.UpdateCourse(patch=CoursePatch(title="Retitled", description="")),
    ]
    saved = await save(app, owner, course_id, seed.course.course.version, operations)

    read = await tree(app, owner, course_id)
    assert read.chapters == saved.course.chapters
    assert read.course == saved.course.course
    assert (read.course.title, read.course.description, read.course.version) == ("Retitled", "", 3)
    assert [(c.title, [lesson.title for lesson in c.lessons]) for c in read.chapters] == [
        ("Chapter 2", ["L2.0", "L2.2"]),
        ("Renamed chapter", ["Renamed lesson", "L0.2"]),
        ("New chapter", ["L0.1", "New lesson"]),
    ]
    assert read.chapters[2].lessons[1].media_id == "m-unknown"
    assert_dense(read)


async def test_a_save_of_only_a_course_patch_writes_no_chapter_or_lesson(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seed = await seeded(app, owner, chapters=2, lessons=2)
    saved = await save(
        app, owner, course_id, seed.course.course.version, [ops.UpdateCourse(patch=CoursePatch(description="About"))]
    )
    read = await tree(app, owner, course_id)
    assert read.course.description == "About" and read.course.title == seed.course.course.title
    assert read.chapters == seed.course.chapters == saved.course.chapters
