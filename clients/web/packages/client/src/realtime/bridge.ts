/**
 * Observer events → the TanStack cache: the only place realtime touches server state.
 *
 * `upload-progress` updates the upload's detail entry and its row in the course's video list;
 * `upload-complete` marks both completed and refetches the chapters (the new lesson) and the media
 * library: the seed's dual cache update of `videoKeys.list()` and `chapterKeys.list()`.
 * `invalidate` refetches the caches it names.
 */
import type { QueryClient } from "@tanstack/react-query";

import type { Schemas } from "../actions.ts";
import { chapterKeys, courseKeys, mediaKeys, uploadKeys, videoKeys } from "../keys.ts";
import { COURSE_EVENTS, type CourseEventObserver } from "./observer.ts";

export type Upload = Schemas["Upload"];
export type UploadList = Schemas["UploadList"];
export type UploadStatus = Upload["status"];

export const ACTIVE_UPLOAD_STATUSES: readonly UploadStatus[] = ["pending", "uploading", "processing"];

export function isActiveUpload(status: UploadStatus | undefined): boolean {
  return status !== undefined && ACTIVE_UPLOAD_STATUSES.includes(status);
}

type UploadChange = (upload: Upload) => Upload;

/** Apply `change` to the upload's detail entry and to its row in the course's list. */
export function updateUploadCaches(
  queryClient: QueryClient,
  courseId: string | null,
  operationId: string,
  change: UploadChange,
): { inList: boolean } {
  queryClient.setQueryData<Upload>(uploadKeys.detail(operationId), (old) => (old ? change(old) : old));
  let inList = false;
  queryClient.setQueryData<UploadList>(videoKeys.list(courseId), (old) => {
    if (!old) return old;
    return {
      ...old,
      items: old.items.map((item) => {
        if (item.operationId !== operationId) return item;
        inList = true;
        return change(item);
      }),
    };
  });
  return { inList };
}

/** A terminal status never goes back to `uploading` because a late progress message arrived. */
function progressed(bytes: number, total: number): UploadChange {
  return (upload) =>
    isActiveUpload(upload.status)
      ? {
          ...upload,
          status: upload.status === "processing" ? "processing" : "uploading",
          offset: Math.max(upload.offset, bytes),
          sizeBytes: total || upload.sizeBytes,
        }
      : upload;
}

export function connectObserverToQueryClient(observer: CourseEventObserver, queryClient: QueryClient): () => void {
  const offs = [
    observer.on(COURSE_EVENTS.UPLOAD_PROGRESS, (courseId, { operationId, bytes, total }) => {
      const { inList } = updateUploadCaches(queryClient, courseId, operationId, progressed(bytes, total));
      // Another tab (or device) started it: fetch the list so its row appears.
      if (!inList) void queryClient.invalidateQueries({ queryKey: videoKeys.list(courseId) });
    }),
    observer.on(COURSE_EVENTS.UPLOAD_COMPLETE, (courseId, { operationId, mediaId }) => {
      updateUploadCaches(queryClient, courseId, operationId, (upload) => ({
        ...upload,
        status: "completed",
        offset: upload.sizeBytes,
        mediaId: mediaId ?? upload.mediaId,
      }));
      void queryClient.invalidateQueries({ queryKey: videoKeys.list(courseId) });
      if (courseId) void queryClient.invalidateQueries({ queryKey: chapterKeys.list(courseId) });
      void queryClient.invalidateQueries({ queryKey: mediaKeys.lists() });
    }),
    observer.on(COURSE_EVENTS.UPLOAD_FAILED, (courseId, { operationId, error, status }) => {
      const terminal: UploadStatus = status === "expired" || status === "cancelled" ? status : "failed";
      updateUploadCaches(queryClient, courseId, operationId, (upload) => ({ ...upload, status: terminal, error }));
      void queryClient.invalidateQueries({ queryKey: videoKeys.list(courseId) });
    }),
    observer.on(COURSE_EVENTS.INVALIDATE, (courseId, { resources }) => {
      for (const resource of resources) {
        if (resource === "videos") {
          void queryClient.invalidateQueries({ queryKey: videoKeys.list(courseId) });
          void queryClient.invalidateQueries({ queryKey: mediaKeys.all });
        } else if (resource === "chapters" || resource === "course") {
          if (courseId) void queryClient.invalidateQueries({ queryKey: chapterKeys.list(courseId) });
          void queryClient.invalidateQueries({ queryKey: courseKeys.lists() });
        } else if (resource === "courses") {
          void queryClient.invalidateQueries({ queryKey: courseKeys.all });
        } else if (resource === "media") {
          void queryClient.invalidateQueries({ queryKey: mediaKeys.all });
        }
      }
    }),
  ];
  return () => {
    for (const off of offs) off();
  };
}
