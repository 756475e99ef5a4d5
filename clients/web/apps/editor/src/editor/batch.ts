/**
 * "Save changes": the pending operations (Zustand) and the edited inputs (form) become one
 * `saveCourseChanges` batch. Order: course fields and renames, deletions, additions (appended, with
 * temp ids so lessons can name a new chapter), then the moves that give the dragged order.
 */
import type { CourseEdit, CourseOperation } from "@lectern/client";

import type { CourseFormValues } from "./form.ts";
import type { PendingChapter, PendingLesson } from "../ui.ts";

export interface PendingEdits {
  addedChapters: PendingChapter[];
  addedLessons: PendingLesson[];
  chapterOrder: string[] | null;
  pendingDeletes: { chapters: string[]; lessons: string[] };
}

export const NEW_CHAPTER_TITLE = "New chapter";
export const NEW_LESSON_TITLE = "New lesson";

function titleOr(value: string | undefined, fallback: string): string {
  const trimmed = (value ?? "").trim();
  return trimmed === "" ? fallback : trimmed;
}

export function buildOperations(course: CourseEdit, pending: PendingEdits, values: CourseFormValues): CourseOperation[] {
  const ops: CourseOperation[] = [];
  const deletedChapters = new Set(pending.pendingDeletes.chapters);
  const deletedLessons = new Set(pending.pendingDeletes.lessons);

  const patch: { title?: string; description?: string } = {};
  if (values.title.trim() !== "" && values.title !== course.title) patch.title = values.title.trim();
  if (values.description !== course.description) patch.description = values.description;
  if (Object.keys(patch).length > 0) ops.push({ op: "updateCourse", patch });

  for (const chapter of course.chapters) {
    if (deletedChapters.has(chapter.id)) continue;
    const title = values.chapters[chapter.id];
    if (title !== undefined && title.trim() !== "" && title !== chapter.title) {
      ops.push({ op: "renameChapter", chapterId: chapter.id, title: title.trim() });
    }
    for (const lesson of chapter.lessons) {
      if (deletedLessons.has(lesson.id)) continue;
      const lessonTitle = values.lessons[lesson.id];
      if (lessonTitle !== undefined && lessonTitle.trim() !== "" && lessonTitle !== lesson.title) {
        ops.push({ op: "renameLesson", lessonId: lesson.id, title: lessonTitle.trim() });
      }
    }
  }

  for (const chapter of course.chapters) {
    if (deletedChapters.has(chapter.id)) {
      ops.push({ op: "deleteChapter", chapterId: chapter.id });
      continue;
    }
    for (const lesson of chapter.lessons) {
      if (deletedLessons.has(lesson.id)) ops.push({ op: "deleteLesson", lessonId: lesson.id });
    }
  }

  const addedChapterIds = new Set(pending.addedChapters.map((c) => c.tempId));
  for (const added of pending.addedChapters) {
    if (deletedChapters.has(added.tempId)) continue;
    ops.push({ op: "addChapter", tempId: added.tempId, title: titleOr(values.chapters[added.tempId], NEW_CHAPTER_TITLE) });
  }
  for (const added of pending.addedLessons) {
    if (deletedLessons.has(added.tempId) || deletedChapters.has(added.chapterId)) continue;
    if (!addedChapterIds.has(added.chapterId) && !course.chapters.some((c) => c.id === added.chapterId)) continue;
    ops.push({
      op: "addLesson",
      chapterId: added.chapterId,
      tempId: added.tempId,
      title: titleOr(values.lessons[added.tempId], NEW_LESSON_TITLE),
    });
  }

  if (pending.chapterOrder) {
    // What the server will hold after the deletions and additions, then moved into the dragged order.
    const current = [
      ...course.chapters.map((c) => c.id).filter((id) => !deletedChapters.has(id)),
      ...pending.addedChapters.map((c) => c.tempId).filter((id) => !deletedChapters.has(id)),
    ];
    const wanted = pending.chapterOrder.filter((id) => current.includes(id));
    wanted.forEach((id, position) => {
      if (current[position] === id) return;
      ops.push({ op: "moveChapter", chapterId: id, position });
      current.splice(current.indexOf(id), 1);
      current.splice(position, 0, id);
    });
  }
  return ops;
}

/** The rows to draw: server chapters and pending new ones, in the dragged order when there is one. */
export function chapterRowOrder(course: CourseEdit, pending: PendingEdits): string[] {
  const ids = [...course.chapters.map((c) => c.id), ...pending.addedChapters.map((c) => c.tempId)];
  if (!pending.chapterOrder) return ids;
  const ordered = pending.chapterOrder.filter((id) => ids.includes(id));
  return [...ordered, ...ids.filter((id) => !ordered.includes(id))];
}
