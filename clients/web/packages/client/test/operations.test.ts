import { expect, test } from "vitest";

import { applyOperations, type CourseEdit } from "../src/courses/operations.ts";

const course: CourseEdit = {
  id: "c1",
  title: "Rust",
  description: "",
  version: 3,
  ownerId: "u1",
  role: "owner",
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
  deletedAt: null,
  published: false,
  publishedAt: null,
  chapters: [
    { id: "ch1", title: "Intro", position: 0, lessons: [{ id: "l1", title: "Hello", position: 0, media: null, mediaId: null }] },
    { id: "ch2", title: "Basics", position: 1, lessons: [] },
  ],
};

test("operations apply in order, temp ids name items added earlier in the same save", () => {
  const next = applyOperations(course, [
    { op: "addChapter", tempId: "t1", title: "Advanced" },
    { op: "addLesson", chapterId: "t1", tempId: "t2", title: "Traits" },
    { op: "renameChapter", chapterId: "ch1", title: "Welcome" },
    { op: "moveChapter", chapterId: "t1", position: 0 },
    { op: "moveLesson", lessonId: "l1", chapterId: "ch2", position: 0 },
    { op: "deleteChapter", chapterId: "ch1" },
    { op: "updateCourse", patch: { title: "Rust 2", description: null } },
  ]);
  expect(next.title).toBe("Rust 2");
  expect(next.description).toBe("");
  expect(next.chapters.map((c) => [c.id, c.title, c.position])).toEqual([
    ["t1", "Advanced", 0],
    ["ch2", "Basics", 1],
  ]);
  expect(next.chapters[0]?.lessons.map((l) => l.id)).toEqual(["t2"]);
  expect(next.chapters[1]?.lessons.map((l) => [l.id, l.position])).toEqual([["l1", 0]]);
  // The input is never changed: the snapshot taken for rollback stays intact.
  expect(course.chapters.map((c) => c.title)).toEqual(["Intro", "Basics"]);
  expect(course.chapters[0]?.lessons).toHaveLength(1);
});

test("unknown ids change nothing; deleting a lesson renumbers the rest", () => {
  const withTwo = applyOperations(course, [{ op: "addLesson", chapterId: "ch1", title: "Second", tempId: "x" }]);
  const next = applyOperations(withTwo, [
    { op: "renameLesson", lessonId: "nope", title: "?" },
    { op: "deleteLesson", lessonId: "l1" },
  ]);
  expect(next.chapters[0]?.lessons.map((l) => [l.id, l.position])).toEqual([["x", 0]]);
});
