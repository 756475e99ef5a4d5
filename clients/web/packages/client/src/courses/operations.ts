/**
 * The optimistic half of `saveCourseChanges`: what the course will look like once the server has
 * applied the operations, computed on the cached `CourseEdit` (no I/O, unit-tested). The server's
 * answer replaces it; an error restores the snapshot taken before.
 *
 * Rules follow API.md: operations apply in order; positions are 0-based indexes after the
 * operations before; `tempId` lets later operations name an item added earlier in the same save.
 */
import type { Schemas } from "../actions.ts";

export type CourseEdit = Schemas["CourseEdit"];
export type ChapterEdit = Schemas["ChapterEdit"];
export type LessonEdit = Schemas["LessonEdit"];
export type CourseOperation = Schemas["SaveCourseChangesInput"]["operations"][number];

function insertAt<T>(items: T[], item: T, position: number | null | undefined): T[] {
  const at = position === null || position === undefined ? items.length : Math.max(0, Math.min(position, items.length));
  return [...items.slice(0, at), item, ...items.slice(at)];
}

function renumber<T extends { position: number }>(items: T[]): T[] {
  return items.map((item, index) => (item.position === index ? item : { ...item, position: index }));
}

/** Apply `operations` to `course` as the server would; unknown ids leave the course unchanged. */
export function applyOperations(course: CourseEdit, operations: readonly CourseOperation[]): CourseEdit {
  let chapters: ChapterEdit[] = course.chapters.map((chapter) => ({ ...chapter, lessons: [...chapter.lessons] }));
  let patch: Partial<Pick<CourseEdit, "title" | "description">> = {};

  const updateChapter = (chapterId: string, change: (chapter: ChapterEdit) => ChapterEdit) => {
    chapters = chapters.map((chapter) => (chapter.id === chapterId ? change(chapter) : chapter));
  };
  const findLesson = (lessonId: string) => {
    for (const chapter of chapters) {
      const lesson = chapter.lessons.find((l) => l.id === lessonId);
      if (lesson) return { chapter, lesson };
    }
    return undefined;
  };
  const updateLesson = (lessonId: string, change: (lesson: LessonEdit) => LessonEdit) => {
    const found = findLesson(lessonId);
    if (!found) return;
    updateChapter(found.chapter.id, (chapter) => ({
      ...chapter,
      lessons: chapter.lessons.map((lesson) => (lesson.id === lessonId ? change(lesson) : lesson)),
    }));
  };

  for (const operation of operations) {
    switch (operation.op) {
      case "addChapter": {
        const chapter: ChapterEdit = {
          id: operation.tempId ?? `temp-${chapters.length}-${operation.title}`,
          title: operation.title,
          position: 0,
          lessons: [],
        };
        chapters = renumber(insertAt(chapters, chapter, operation.position));
        break;
      }
      case "renameChapter":
        updateChapter(operation.chapterId, (chapter) => ({ ...chapter, title: operation.title }));
        break;
      case "moveChapter": {
        const moving = chapters.find((c) => c.id === operation.chapterId);
        if (!moving) break;
        chapters = renumber(insertAt(chapters.filter((c) => c !== moving), moving, operation.position));
        break;
      }
      case "deleteChapter":
        chapters = renumber(chapters.filter((c) => c.id !== operation.chapterId));
        break;
      case "addLesson": {
        const lesson: LessonEdit = {
          id: operation.tempId ?? `temp-lesson-${operation.title}`,
          title: operation.title,
          position: 0,
          media: null,
          mediaId: operation.mediaId ?? null,
        };
        updateChapter(operation.chapterId, (chapter) => ({
          ...chapter,
          lessons: renumber(insertAt(chapter.lessons, lesson, operation.position)),
        }));
        break;
      }
      case "renameLesson":
        updateLesson(operation.lessonId, (lesson) => ({ ...lesson, title: operation.title }));
        break;
      case "moveLesson": {
        const found = findLesson(operation.lessonId);
        if (!found || !chapters.some((c) => c.id === operation.chapterId)) break;
        updateChapter(found.chapter.id, (chapter) => ({
          ...chapter,
          lessons: renumber(chapter.lessons.filter((l) => l.id !== operation.lessonId)),
        }));
        updateChapter(operation.chapterId, (chapter) => ({
          ...chapter,
          lessons: renumber(insertAt(chapter.lessons, found.lesson, operation.position)),
        }));
        break;
      }
      case "deleteLesson": {
        const found = findLesson(operation.lessonId);
        if (!found) break;
        updateChapter(found.chapter.id, (chapter) => ({
          ...chapter,
          lessons: renumber(chapter.lessons.filter((l) => l.id !== operation.lessonId)),
        }));
        break;
      }
      case "setLessonMedia":
        updateLesson(operation.lessonId, (lesson) => ({
          ...lesson,
          mediaId: operation.mediaId,
          media: operation.mediaId === lesson.mediaId ? lesson.media : null,
        }));
        break;
      case "updateCourse": {
        const next: typeof patch = { ...patch };
        if (operation.patch.title !== undefined && operation.patch.title !== null) next.title = operation.patch.title;
        if (operation.patch.description !== undefined && operation.patch.description !== null) {
          next.description = operation.patch.description;
        }
        patch = next;
        break;
      }
    }
  }
  return { ...course, ...patch, chapters };
}
