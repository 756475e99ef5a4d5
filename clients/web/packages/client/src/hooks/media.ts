/**
 * The media library: listing, usage ("where used"), the delete-protection preview, soft delete,
 * restore. The preview is `deleteMedia` with `dryRun: true`: a read, so it is a query (cached
 * under `mediaKeys.deletePreview`), while the delete itself is a mutation.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import type { ActionError, ActionInput, Schemas } from "../actions.ts";
import { chapterKeys, courseKeys, mediaKeys, videoKeys } from "../keys.ts";
import { useLecternClient } from "./context.tsx";

export function useMediaList(filters: { query?: string; includeDeleted?: boolean; status?: string } = {}) {
  const client = useLecternClient();
  return useQuery({
    queryKey: mediaKeys.list(filters),
    queryFn: ({ signal }) =>
      client.action(
        "listMedia",
        {
          ...(filters.query ? { query: filters.query } : {}),
          ...(filters.status ? { status: filters.status as ActionInput<"listMedia">["status"] } : {}),
          includeDeleted: filters.includeDeleted ?? false,
          limit: 100,
        },
        { signal },
      ),
  });
}

export function useMedia(mediaId: string | null) {
  const client = useLecternClient();
  return useQuery({
    queryKey: mediaKeys.detail(mediaId ?? ""),
    queryFn: ({ signal }) => client.action("getMedia", { mediaId: mediaId ?? "" }, { signal }),
    enabled: mediaId !== null,
  });
}

export function useMediaUsage(mediaId: string | null) {
  const client = useLecternClient();
  return useQuery({
    queryKey: mediaKeys.usage(mediaId ?? ""),
    queryFn: ({ signal }) => client.action("getMediaUsage", { mediaId: mediaId ?? "" }, { signal }),
    enabled: mediaId !== null,
  });
}

/** What deleting would do (links removed, courses touched, bytes freed), changing nothing. */
export function useDeleteMediaPreview(mediaId: string | null, mode: "soft" | "hard" = "soft") {
  const client = useLecternClient();
  return useQuery({
    queryKey: mediaKeys.deletePreview(mediaId ?? "", mode),
    queryFn: () => client.action("deleteMedia", { mediaId: mediaId ?? "", mode, force: true, dryRun: true }),
    enabled: mediaId !== null,
    staleTime: 0,
  });
}

function invalidateMediaAndCourses(queryClient: ReturnType<typeof useQueryClient>) {
  return Promise.all([
    queryClient.invalidateQueries({ queryKey: mediaKeys.all }),
    queryClient.invalidateQueries({ queryKey: videoKeys.all }),
    // Lessons show their media: every open course editor refetches.
    queryClient.invalidateQueries({ queryKey: courseKeys.edits() }),
  ]);
}

export function useDeleteMedia() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation<Schemas["DeleteMediaData"], ActionError, ActionInput<"deleteMedia">>({
    mutationFn: (input) => client.action("deleteMedia", input),
    onSettled: () => invalidateMediaAndCourses(queryClient),
  });
}

export function useRestoreMedia() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation<Schemas["RestoreMediaData"], ActionError, ActionInput<"restoreMedia">>({
    mutationFn: (input) => client.action("restoreMedia", input),
    onSettled: () => invalidateMediaAndCourses(queryClient),
  });
}

export function useUpdateMedia() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: ActionInput<"updateMedia">) => client.action("updateMedia", input),
    onSettled: () => queryClient.invalidateQueries({ queryKey: mediaKeys.all }),
  });
}

export function useLinkMedia() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: ActionInput<"linkMedia">) => client.action("linkMedia", input),
    onSettled: (data) =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: mediaKeys.all }),
        data ? queryClient.invalidateQueries({ queryKey: chapterKeys.list(data.courseId) }) : undefined,
      ]),
  });
}

export function useUnlinkMedia() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: ActionInput<"unlinkMedia">) => client.action("unlinkMedia", input),
    onSettled: () => invalidateMediaAndCourses(queryClient),
  });
}

export function useMediaAudit(mediaId: string | null) {
  const client = useLecternClient();
  return useQuery({
    queryKey: mediaKeys.audit(mediaId ?? ""),
    queryFn: ({ signal }) => client.action("getMediaAudit", { mediaId: mediaId ?? "" }, { signal }),
    enabled: mediaId !== null,
  });
}
