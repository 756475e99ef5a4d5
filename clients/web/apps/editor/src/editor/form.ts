/**
 * The course form: every title and the description are inputs, so the form owns them. Its values
 * start from the server's course (and follow it while a field is untouched: react-hook-form's
 * `values` with `keepDirtyValues`); new items' titles are fields named by their temp ids.
 */
import type { CourseEdit } from "@lectern/client";

export interface CourseFormValues {
  title: string;
  description: string;
  chapters: Record<string, string>;
  lessons: Record<string, string>;
}

export function formValuesFrom(course: CourseEdit): CourseFormValues {
  const chapters: Record<string, string> = {};
  const lessons: Record<string, string> = {};
  for (const chapter of course.chapters) {
    chapters[chapter.id] = chapter.title;
    for (const lesson of chapter.lessons) lessons[lesson.id] = lesson.title;
  }
  return { title: course.title, description: course.description, chapters, lessons };
}
