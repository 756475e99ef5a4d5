import { isActionError, useCreateCourse, useMyCourses } from "@lectern/client";
import { useForm } from "react-hook-form";

import { useUi } from "../ui.ts";

export function CoursesPage() {
  const courses = useMyCourses();
  const create = useCreateCourse();
  const toast = useUi((s) => s.toast);
  const form = useForm<{ title: string }>({ defaultValues: { title: "" } });
  const onCreate = form.handleSubmit(({ title }) =>
    create.mutate(
      { title: title.trim() },
      {
        onSuccess: (course) => {
          form.reset({ title: "" });
          window.location.hash = `#/courses/${course.id}`;
        },
        onError: (error) => {
          if (isActionError(error)) {
            for (const [field, message] of Object.entries(error.fields)) {
              if (field === "title") form.setError("title", { message });
            }
          }
          toast("error", `Could not create the course: ${error.message}`);
        },
      },
    ),
  );
  return (
    <section>
      <h1>My courses</h1>
      <form className="row" onSubmit={onCreate}>
        <input data-testid="new-course-title" placeholder="New course title" {...form.register("title", { required: true })} />
        <button type="submit" data-testid="create-course" disabled={create.isPending}>
          Create course
        </button>
        {form.formState.errors.title?.message && <span className="error">{form.formState.errors.title.message}</span>}
      </form>
      {courses.isPending && <p>Loading…</p>}
      {courses.error && <p className="error">{courses.error.message}</p>}
      <ul className="cards">
        {courses.data?.items.map((course) => (
          <li key={course.id} data-testid="course-card">
            <a href={`#/courses/${course.id}`}>{course.title}</a>
            <span className="muted">
              {course.chapterCount} chapters · {course.lessonCount} lessons · v{course.version}
            </span>
          </li>
        ))}
      </ul>
      {courses.data && courses.data.items.length === 0 && <p className="muted">No courses yet: create one above.</p>}
    </section>
  );
}
