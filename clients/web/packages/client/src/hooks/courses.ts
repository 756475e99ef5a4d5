/** Course hooks: reads are queries, writes are mutations calling server actions (the seed's rule). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { ActionError, type ActionInput, type Schemas } from "../actions.ts";
import { applyOperations, type CourseEdit } from "../courses/operations.ts";
import { chapterKeys, courseKeys } from "../keys.ts";
import { useCourseChannel, useLecternClient } from "./context.tsx";

export function useMyCourses(filters: { includeDeleted?: boolean } = {}) {
  const client = useLecternClient();
  return useQuery({
    queryKey: courseKeys.list(filters),
    queryFn: ({ signal }) =>
      client.action("listMyCourses", { includeDeleted: filters.includeDeleted ?? false, limit: 100 }, { signal }),
  });
}

/**
 * The course's edit document (chapters, lessons, each lesson's media), kept live: the hook
 * watches the course's realtime channel, so another tab's save or a finished upload refetches it.
 */
export function useCourseEdit(courseId: string) {
  const client = useLecternClient();
  useCourseChannel(courseId);
  return useQuery({
    queryKey: chapterKeys.list(courseId),
    queryFn: ({ signal }) => client.action("getCourseEdit", { courseId }, { signal }),
  });
}

export function useCreateCourse() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: ActionInput<"createCourse">) => client.action("createCourse", input),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: courseKeys.lists() }),
  });
}

export interface SaveCourseChangesVariables {
  courseId: string;
  expectedVersion: number;
  operations: ActionInput<"saveCourseChanges">["operations"];
}

interface SaveContext {
  previous: CourseEdit | undefined;
}

/**
 * One "Save changes" batch. The cache shows the result at once (optimistic update); an error puts
 * the snapshot back (automatic rollback), and a `CONFLICT` puts in `details.current`, the state
 * another save made, so the editor shows what is really there.
 */
export function useSaveCourseChanges() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation<Schemas["SaveCourseChangesData"], ActionError, SaveCourseChangesVariables, SaveContext>({
    mutationFn: (variables) => client.action("saveCourseChanges", variables),
    onMutate: async ({ courseId, operations }) => {
      const key = chapterKeys.list(courseId);
      await queryClient.cancelQueries({ queryKey: key });
      const previous = queryClient.getQueryData<CourseEdit>(key);
      if (previous) queryClient.setQueryData<CourseEdit>(key, applyOperations(previous, operations));
      return { previous };
    },
    onError: (error, { courseId }, context) => {
      const key = chapterKeys.list(courseId);
      const current = error instanceof ActionError && error.code === "CONFLICT" ? error.currentState<CourseEdit>() : undefined;
      if (current) queryClient.setQueryData<CourseEdit>(key, current);
      else if (context?.previous) queryClient.setQueryData<CourseEdit>(key, context.previous);
      if (!current) void queryClient.invalidateQueries({ queryKey: key });
    },
    onSuccess: (data, { courseId }) => {
      queryClient.setQueryData<CourseEdit>(chapterKeys.list(courseId), data.course);
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: courseKeys.lists() }),
  });
}

export function useUpdateCourse() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: ActionInput<"updateCourse">) => client.action("updateCourse", input),
    onSettled: (_data, _error, { courseId }) =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: courseKeys.edit(courseId) }),
        queryClient.invalidateQueries({ queryKey: courseKeys.lists() }),
      ]),
  });
}

export function useDeleteCourse() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (courseId: string) => client.action("deleteCourse", { courseId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: courseKeys.all }),
  });
}

export function useRestoreCourse() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (courseId: string) => client.action("restoreCourse", { courseId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: courseKeys.all }),
  });
}
