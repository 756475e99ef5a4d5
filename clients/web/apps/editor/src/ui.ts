/**
 * Zustand: pure UI state, nothing the server owns. The pending operations of the open course
 * (items added, moved, marked for deletion: what "Save changes" will send) are UI state until
 * saved; their titles are inputs, so they live in the form. `baseVersion` is the course version
 * the first pending change was made on: the save names it, so a save over someone else's newer
 * save is a conflict instead of a silent overwrite.
 */
import { create } from "zustand";
import { useShallow } from "zustand/react/shallow";

export interface PendingChapter {
  tempId: string;
}

export interface PendingLesson {
  tempId: string;
  chapterId: string;
}

export type Modal = { kind: "delete-media"; mediaId: string } | null;

export interface Toast {
  id: number;
  kind: "success" | "error" | "info";
  text: string;
}

export interface EditorUi {
  courseId: string | null;
  baseVersion: number | null;
  addedChapters: PendingChapter[];
  addedLessons: PendingLesson[];
  /** The chapter order the user dragged to (ids, temp ids included); null: as the server has it. */
  chapterOrder: string[] | null;
  pendingDeletes: { chapters: string[]; lessons: string[] };
  dragState: { chapterId: string } | null;
  modal: Modal;
  expandedUsage: string | null;
  toasts: Toast[];

  beginEdit(courseId: string, version: number): void;
  addChapter(courseId: string, version: number): string;
  addLesson(courseId: string, version: number, chapterId: string): string;
  moveChapter(courseId: string, version: number, order: string[]): void;
  toggleDelete(courseId: string, version: number, kind: "chapters" | "lessons", id: string): void;
  clearPending(): void;
  startDrag(chapterId: string): void;
  endDrag(): void;
  openModal(modal: NonNullable<Modal>): void;
  closeModal(): void;
  toggleUsage(mediaId: string): void;
  toast(kind: Toast["kind"], text: string): void;
  dismissToast(id: number): void;
}

let nextId = 1;
const emptyPending = {
  courseId: null,
  baseVersion: null,
  addedChapters: [],
  addedLessons: [],
  chapterOrder: null,
  pendingDeletes: { chapters: [], lessons: [] },
};

export const useUi = create<EditorUi>()((set, get) => {
  /** The first change of an editing session pins the version it was made on. */
  const touch = (courseId: string, version: number) => {
    const state = get();
    if (state.courseId !== courseId) set({ ...emptyPending, courseId, baseVersion: version });
    else if (state.baseVersion === null) set({ baseVersion: version });
  };
  return {
    ...emptyPending,
    dragState: null,
    modal: null,
    expandedUsage: null,
    toasts: [],

    beginEdit: touch,
    addChapter(courseId, version) {
      touch(courseId, version);
      const tempId = `new-chapter-${nextId++}`;
      set((s) => ({ addedChapters: [...s.addedChapters, { tempId }] }));
      return tempId;
    },
    addLesson(courseId, version, chapterId) {
      touch(courseId, version);
      const tempId = `new-lesson-${nextId++}`;
      set((s) => ({ addedLessons: [...s.addedLessons, { tempId, chapterId }] }));
      return tempId;
    },
    moveChapter(courseId, version, order) {
      touch(courseId, version);
      set({ chapterOrder: order });
    },
    toggleDelete(courseId, version, kind, id) {
      touch(courseId, version);
      set((s) => {
        const list = s.pendingDeletes[kind];
        const next = list.includes(id) ? list.filter((x) => x !== id) : [...list, id];
        return { pendingDeletes: { ...s.pendingDeletes, [kind]: next } };
      });
    },
    clearPending: () => set({ ...emptyPending }),
    startDrag: (chapterId) => set({ dragState: { chapterId } }),
    endDrag: () => set({ dragState: null }),
    openModal: (modal) => set({ modal }),
    closeModal: () => set({ modal: null }),
    toggleUsage: (mediaId) => set((s) => ({ expandedUsage: s.expandedUsage === mediaId ? null : mediaId })),
    toast(kind, text) {
      const id = nextId++;
      set((s) => ({ toasts: [...s.toasts, { id, kind, text }] }));
      setTimeout(() => get().dismissToast(id), 8000);
    },
    dismissToast: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
  };
});

/** The store's actions only: stable functions, so a component that just calls them never re-renders for them. */
export function useUiActions() {
  return useUi(
    useShallow((s) => ({
      beginEdit: s.beginEdit,
      addChapter: s.addChapter,
      addLesson: s.addLesson,
      moveChapter: s.moveChapter,
      toggleDelete: s.toggleDelete,
      clearPending: s.clearPending,
      startDrag: s.startDrag,
      endDrag: s.endDrag,
      openModal: s.openModal,
      closeModal: s.closeModal,
      toggleUsage: s.toggleUsage,
      toast: s.toast,
    })),
  );
}
