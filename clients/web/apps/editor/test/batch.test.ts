import type { CourseEdit } from "@lectern/client";
import { applyOperations } from "@lectern/client";
import { expect, test } from "vitest";

import { buildOperations, chapterRowOrder, type PendingEdits } from "../src/editor/batch.ts";
import { formValuesFrom } from "../src/editor/form.ts";

const course: CourseEdit = {
  id: "c1",
  title: "Rust",
  description: "",
  version: 3,
  ownerId: "u1",
  role: "owner",
  published: false,
  publishedAt: null,
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
  deletedAt: null,
  chapters: [
    { id: "a", title: "Intro", position: 0, lessons: [{ id: "l1", title: "Hello", position: 0, media: null, mediaId: null }] },
    { id: "b", title: "Basics", position: 1, lessons: [] },
  ],
};

const none: PendingEdits = { addedChapters: [], addedLessons: [], chapterOrder: null, pendingDeletes: { chapters: [], lessons: [] } };

test("untouched form and no pending edits: nothing to save", () => {
  expect(buildOperations(course, none, formValuesFrom(course))).toEqual([]);
});

test("renames, deletions, additions with temp ids, then moves into the dragged order", () => {
  const values = formValuesFrom(course);
  values.title = "Rust 2";
  values.chapters["b"] = "Basics, renamed";
  values.chapters["t1"] = "Advanced";
  values.lessons["t2"] = "";
  const pending: PendingEdits = {
    addedChapters: [{ tempId: "t1" }],
    addedLessons: [{ tempId: "t2", chapterId: "t1" }],
    chapterOrder: ["t1", "a", "b"],
    pendingDeletes: { chapters: [], lessons: ["l1"] },
  };
  const ops = buildOperations(course, pending, values);
  expect(ops).toEqual([
    { op: "updateCourse", patch: { title: "Rust 2" } },
    { op: "renameChapter", chapterId: "b", title: "Basics, renamed" },
    { op: "deleteLesson", lessonId: "l1" },
    { op: "addChapter", tempId: "t1", title: "Advanced" },
    { op: "addLesson", chapterId: "t1", tempId: "t2", title: "New lesson" },
    { op: "moveChapter", chapterId: "t1", position: 0 },
  ]);
  // What the optimistic cache will show is the dragged order.
  expect(applyOperations(course, ops).chapters.map((c) => c.title)).toEqual(["Advanced", "Intro", "Basics, renamed"]);
  expect(chapterRowOrder(course, pending)).toEqual(["t1", "a", "b"]);
});

test("a chapter marked for deletion is neither renamed nor moved", () => {
  const values = formValuesFrom(course);
  values.chapters["a"] = "ignored";
  const pending: PendingEdits = { ...none, chapterOrder: ["b", "a"], pendingDeletes: { chapters: ["a"], lessons: [] } };
  expect(buildOperations(course, pending, values)).toEqual([{ op: "deleteChapter", chapterId: "a" }]);
});
