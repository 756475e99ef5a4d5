/**
 * The course editor. Layers (the seed): the course, its chapters, lessons and uploads are read from
 * TanStack hooks; every input is a react-hook-form field; what is pending (added, dragged, marked
 * for deletion), the drag and the toasts are Zustand. Rows are drawn from the server's chapters
 * plus the pending new ones, combined only here, while rendering.
 */
import {
  type ChapterEdit,
  chapterKeys,
  type CourseEdit,
  isActionError,
  type LessonEdit,
  useCourseEdit,
  useCourseUploads,
  useSaveCourseChanges,
  useUpload,
  useVideoUpload,
  uploadPercent,
  applyOperations,
} from "@lectern/client";
import { useQueryClient } from "@tanstack/react-query";
import { useMemo } from "react";
import { useShallow } from "zustand/react/shallow";
import { useForm, type UseFormRegister } from "react-hook-form";

import { buildOperations, chapterRowOrder, NEW_CHAPTER_TITLE, NEW_LESSON_TITLE, type PendingEdits } from "../editor/batch.ts";
import { type CourseFormValues, formValuesFrom } from "../editor/form.ts";
import { useUi, useUiActions } from "../ui.ts";

const NO_PENDING: PendingEdits = {
  addedChapters: [],
  addedLessons: [],
  chapterOrder: null,
  pendingDeletes: { chapters: [], lessons: [] },
};

/** Recent finished uploads stay listed (at 100 %) this long, so every tab sees how they ended. */
const RECENT_UPLOAD_MS = 15 * 60 * 1000;

/** The pending edits of this course (none while another course's are held). */
function usePending(courseId: string): PendingEdits & { baseVersion: number | null } {
  const pending = useUi(
    useShallow((s) => ({
      courseId: s.courseId,
      baseVersion: s.baseVersion,
      addedChapters: s.addedChapters,
      addedLessons: s.addedLessons,
      chapterOrder: s.chapterOrder,
      pendingDeletes: s.pendingDeletes,
    })),
  );
  return pending.courseId === courseId ? pending : { ...NO_PENDING, baseVersion: null };
}

export function CourseEditorPage({ courseId }: { courseId: string }) {
  const course = useCourseEdit(courseId);
  if (course.isPending) return <p>Loading…</p>;
  if (course.error) {
    return (
      <p className="error" role="alert">
        {isActionError(course.error) ? `${course.error.code}: ${course.error.message}` : course.error.message}
      </p>
    );
  }
  return <CourseEditor course={course.data} />;
}

function CourseEditor({ course }: { course: CourseEdit }) {
  const queryClient = useQueryClient();
  const save = useSaveCourseChanges();
  const pending = usePending(course.id);
  const ui = useUiActions();
  const dragged = useUi((s) => s.dragState?.chapterId ?? null);
  const serverValues = useMemo(() => formValuesFrom(course), [course]);
  const form = useForm<CourseFormValues>({ values: serverValues, resetOptions: { keepDirtyValues: true } });
  const { register } = form;
  const touch = () => ui.beginEdit(course.id, course.version);
  /** Explicit resets replace every value: `resetOptions` (keep what the user typed) is for `values` only. */
  const resetTo = (values: CourseFormValues) => form.reset(values, { keepDirtyValues: false });

  const hasPending =
    pending.addedChapters.length > 0 ||
      pending.addedLessons.length > 0 ||
      pending.chapterOrder !== null ||
      pending.pendingDeletes.chapters.length > 0 ||
    pending.pendingDeletes.lessons.length > 0;
  const dirty = form.formState.isDirty || hasPending;

  const onSave = form.handleSubmit((values) => {
    const operations = buildOperations(course, pending, values);
    if (operations.length === 0) {
      ui.clearPending();
      resetTo(serverValues);
      return;
    }
    const expectedVersion = pending.baseVersion ?? course.version;
    // Optimistic reset: the pending state goes, the form shows what the save will make.
    ui.clearPending();
    resetTo(formValuesFrom(applyOperations(course, operations)));
    save.mutate(
      { courseId: course.id, expectedVersion, operations },
      {
        onSuccess: (data) => {
          resetTo(formValuesFrom(data.course));
          ui.toast("success", "Changes saved");
        },
        onError: (error) => {
          // The hook has already rolled the cache back (or, on CONFLICT, put in the current state).
          const now = queryClient.getQueryData<CourseEdit>(chapterKeys.list(course.id));
          if (now) resetTo(formValuesFrom(now));
          if (error.code === "CONFLICT") {
            ui.toast("error", "Someone saved this course in the meantime: your changes were rolled back, this is the current version.");
          } else {
            ui.toast("error", `Save failed: ${error.message}`);
          }
        },
      },
    );
  });

  const order = chapterRowOrder(course, pending);
  const byId = new Map(course.chapters.map((c) => [c.id, c]));

  const onDrop = (targetId: string) => {
    ui.endDrag();
    if (!dragged || dragged === targetId) return;
    const next = order.filter((id) => id !== dragged);
    next.splice(next.indexOf(targetId), 0, dragged);
    ui.moveChapter(course.id, course.version, next);
  };

  return (
    <section className="editor">
      <form onSubmit={onSave}>
        <div className="row">
          <input className="course-title" data-testid="course-title" {...register("title", { onChange: touch })} />
          <span className="muted" data-testid="course-version">
            v{course.version}
          </span>
          <span className="spacer" />
          <button type="submit" data-testid="save-changes" disabled={!dirty || save.isPending}>
            {save.isPending ? "Saving…" : "Save changes"}
          </button>
        </div>
        <textarea placeholder="Description" data-testid="course-description" {...register("description", { onChange: touch })} />

        <ol className="chapters">
          {order.map((id, index) => {
            const chapter = byId.get(id);
            const deleted = pending.pendingDeletes.chapters.includes(id);
            return (
              <li
                key={id}
                data-testid="chapter"
                data-chapter-id={id}
                className={`chapter${deleted ? " pending-delete" : ""}${chapter ? "" : " pending-add"}${dragged === id ? " dragging" : ""}`}
                draggable
                onDragStart={() => ui.startDrag(id)}
                onDragEnd={() => ui.endDrag()}
                onDragOver={(e) => e.preventDefault()}
                onDrop={(e) => {
                  e.preventDefault();
                  onDrop(id);
                }}
              >
                <div className="row">
                  <span className="handle" title="drag to reorder">
                    ⠿ {index + 1}
                  </span>
                  <input
                    data-testid="chapter-title"
                    placeholder={NEW_CHAPTER_TITLE}
                    {...register(`chapters.${id}`, { onChange: touch })}
                  />
                  {!chapter && <span className="badge">new</span>}
                  <button type="button" onClick={() => ui.toggleDelete(course.id, course.version, "chapters", id)}>
                    {deleted ? "Undo delete" : "Delete"}
                  </button>
                </div>
                <Lessons
                  courseId={course.id}
                  version={course.version}
                  chapterId={id}
                  lessons={chapter?.lessons ?? []}
                  pending={pending}
                  register={register}
                  touch={touch}
                />
                {chapter ? (
                  <ChapterUploads courseId={course.id} chapter={chapter} />
                ) : (
                  <p className="muted">Save to upload videos into this chapter.</p>
                )}
              </li>
            );
          })}
        </ol>
        <button
          type="button"
          data-testid="add-chapter"
          onClick={() => {
            const tempId = ui.addChapter(course.id, course.version);
            form.setValue(`chapters.${tempId}`, "", { shouldDirty: true });
          }}
        >
          + Add chapter
        </button>
      </form>
    </section>
  );
}

function Lessons(props: {
  courseId: string;
  version: number;
  chapterId: string;
  lessons: LessonEdit[];
  pending: PendingEdits;
  register: UseFormRegister<CourseFormValues>;
  touch: () => void;
}) {
  const ui = useUiActions();
  const added = props.pending.addedLessons.filter((l) => l.chapterId === props.chapterId);
  const rows: Array<{ id: string; lesson: LessonEdit | null }> = [
    ...props.lessons.map((lesson) => ({ id: lesson.id, lesson })),
    ...added.map((l) => ({ id: l.tempId, lesson: null })),
  ];
  return (
    <ul className="lessons">
      {rows.map(({ id, lesson }) => {
        const deleted = props.pending.pendingDeletes.lessons.includes(id);
        return (
          <li key={id} data-testid="lesson" data-lesson-id={id} className={deleted ? "pending-delete" : lesson ? "" : "pending-add"}>
            <input data-testid="lesson-title" placeholder={NEW_LESSON_TITLE} {...props.register(`lessons.${id}`, { onChange: props.touch })} />
            {lesson?.media && (
              <span className="badge" data-testid="lesson-media" data-media-id={lesson.media.id}>
                video: {lesson.media.fileName} · {lesson.media.status}
              </span>
            )}
            <button type="button" onClick={() => ui.toggleDelete(props.courseId, props.version, "lessons", id)}>
              {deleted ? "Undo" : "Delete"}
            </button>
          </li>
        );
      })}
      <li>
        <button
          type="button"
          data-testid="add-lesson"
          onClick={() => ui.addLesson(props.courseId, props.version, props.chapterId)}
        >
          + Add lesson
        </button>
      </li>
    </ul>
  );
}

function ChapterUploads({ courseId, chapter }: { courseId: string; chapter: ChapterEdit }) {
  const uploads = useCourseUploads(courseId);
  const upload = useVideoUpload();
  const ui = useUiActions();
  const now = Date.now();
  const mine = (uploads.data?.items ?? []).filter(
    (u) =>
      u.chapterId === chapter.id &&
      (u.status !== "completed" && u.status !== "cancelled" ? true : now - Date.parse(u.createdAt) < RECENT_UPLOAD_MS),
  );
  return (
    <div className="uploads">
      <label className="upload-button">
        Upload video
        <input
          type="file"
          accept="video/*"
          data-testid="upload-file"
          onChange={(event) => {
            const file = event.target.files?.[0];
            event.target.value = "";
            if (!file) return;
            upload.mutate(
              { file, courseId, chapterId: chapter.id },
              { onError: (error) => ui.toast("error", `Upload of ${file.name} failed: ${error.message}`) },
            );
          }}
        />
      </label>
      {mine.map((u) => (
        <UploadRow key={u.operationId} operationId={u.operationId} fileName={u.fileName} />
      ))}
    </div>
  );
}

function UploadRow({ operationId, fileName }: { operationId: string; fileName: string }) {
  const upload = useUpload(operationId);
  const percent = uploadPercent(upload.data);
  const status = upload.data?.status ?? "pending";
  return (
    <div className="upload-row" data-testid="upload-row" data-operation-id={operationId} data-file-name={fileName} data-status={status}>
      <span>{fileName}</span>
      <div
        className="progress"
        role="progressbar"
        data-testid="upload-progress"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-label={`upload of ${fileName}`}
      >
        <div style={{ width: `${percent}%` }} />
      </div>
      <span className="muted">
        {percent}% · {status}
      </span>
    </div>
  );
}
