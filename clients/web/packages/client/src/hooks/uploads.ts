/**
 * Uploads: `startUpload` (a server action) creates the upload, tus-js-client sends the bytes to the
 * `uploadUrl` it answers, and progress lives in the TanStack cache (`uploadKeys.detail`, and the
 * row in `videoKeys.list(courseId)`): fed by tus in the uploading tab, by realtime in every tab,
 * and by polling `getUpload` while the browser's socket is down.
 */
import { type QueryClient, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import * as tus from "tus-js-client";

import type { LecternClient, Schemas } from "../actions.ts";
import { uploadKeys, videoKeys } from "../keys.ts";
import { isActiveUpload, type Upload, type UploadList, updateUploadCaches } from "../realtime/bridge.ts";
import type { RealtimeStatus } from "../realtime/client.ts";
import { COURSE_EVENTS, type CourseEventObserver, courseEventObserver } from "../realtime/observer.ts";
import { useLecternClient, useRealtimeClient, useRealtimeStatus } from "./context.tsx";

/** While the socket is down, an upload in flight is polled this often. */
export const UPLOAD_POLL_INTERVAL_MS = 1_000;

/** The uploads of a course (or, with `null`, those made without one). */
export function useCourseUploads(courseId: string | null) {
  const client = useLecternClient();
  return useQuery({
    queryKey: videoKeys.list(courseId),
    queryFn: ({ signal }) => client.action("listUploads", courseId ? { courseId } : {}, { signal }),
  });
}

/**
 * Poll decision: only uploads still in flight, only while realtime cannot tell us. `idle` counts
 * as down: no socket at all is the same as a dead one for whoever waits for progress.
 */
export function uploadPollInterval(status: Upload["status"] | undefined, realtime: RealtimeStatus): number | false {
  return isActiveUpload(status) && realtime !== "open" ? UPLOAD_POLL_INTERVAL_MS : false;
}

/**
 * Fetch one upload; when it has finished since the cache last saw it, say so on the observer, so a
 * poll's news goes through the same bridge (and the same dual cache update) as a socket message.
 */
export async function fetchUpload(
  client: LecternClient,
  queryClient: QueryClient,
  observer: CourseEventObserver,
  operationId: string,
  signal?: AbortSignal,
): Promise<Upload> {
  const before = queryClient.getQueryData<Upload>(uploadKeys.detail(operationId));
  const upload = await client.action("getUpload", { operationId }, signal ? { signal } : {});
  if (before && isActiveUpload(before.status) && !isActiveUpload(upload.status)) {
    // Emitted after this answer is in the cache, so the bridge updates the new state.
    queueMicrotask(() => {
      if (upload.status === "completed") {
        observer.emit(COURSE_EVENTS.UPLOAD_COMPLETE, upload.courseId, {
          operationId,
          mediaId: upload.mediaId,
          lessonId: null,
        });
      } else {
        observer.emit(COURSE_EVENTS.UPLOAD_FAILED, upload.courseId, {
          operationId,
          error: upload.error ?? upload.status,
          status: upload.status,
        });
      }
    });
  }
  return upload;
}

/** One upload's status and progress; polled while the socket is down and the upload in flight. */
export function useUpload(operationId: string) {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  const observer = useRealtimeClient()?.observer ?? courseEventObserver;
  const realtime = useRealtimeStatus();
  return useQuery({
    queryKey: uploadKeys.detail(operationId),
    queryFn: ({ signal }) => fetchUpload(client, queryClient, observer, operationId, signal),
    refetchInterval: (query) => uploadPollInterval(query.state.data?.status, realtime),
  });
}

/** 0–100 from an upload's offset. */
export function uploadPercent(upload: Pick<Upload, "offset" | "sizeBytes" | "status"> | undefined): number {
  if (!upload) return 0;
  if (upload.status === "completed" || upload.status === "processing") return 100;
  return upload.sizeBytes > 0 ? Math.min(100, Math.floor((upload.offset / upload.sizeBytes) * 100)) : 0;
}

export interface StoredUpload {
  operationId: string;
  uploadUrl: string;
  uploadToken: string;
  expiresAt: string;
  chunkSizeBytes: number;
  courseId: string | null;
  chapterId: string | null;
}

/** Where started uploads are remembered until they finish, so a reload resumes them. */
export interface UploadStore {
  get(fingerprint: string): StoredUpload | undefined;
  set(fingerprint: string, upload: StoredUpload): void;
  remove(fingerprint: string): void;
}

export function localStorageUploadStore(prefix = "lectern.upload."): UploadStore {
  const storage = (globalThis as { localStorage?: Storage }).localStorage;
  return {
    get(fingerprint) {
      const raw = storage?.getItem(prefix + fingerprint);
      if (!raw) return undefined;
      try {
        const stored = JSON.parse(raw) as StoredUpload;
        return Date.parse(stored.expiresAt) > Date.now() ? stored : undefined;
      } catch {
        return undefined;
      }
    },
    set(fingerprint, upload) {
      storage?.setItem(prefix + fingerprint, JSON.stringify(upload));
    },
    remove(fingerprint) {
      storage?.removeItem(prefix + fingerprint);
    },
  };
}

/** The same file chosen again (name, size, last change) for the same target. */
export function uploadFingerprint(file: { name: string; size: number; lastModified?: number }, chapterId?: string | null) {
  return [file.name, file.size, file.lastModified ?? 0, chapterId ?? ""].join(":");
}

export interface VideoUploadVariables {
  file: File;
  courseId?: string | null;
  chapterId?: string | null;
  lessonTitle?: string | null;
}

function sendWithTus(
  file: File,
  started: StoredUpload,
  client: LecternClient,
  onProgress: (bytes: number, total: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, {
      uploadUrl: client.resolveServiceUrl(started.uploadUrl),
      headers: { Authorization: `Bearer ${started.uploadToken}` },
      chunkSize: started.chunkSizeBytes,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      storeFingerprintForResuming: false,
      onProgress,
      onSuccess: () => resolve(),
      onError: (error) => reject(error),
    });
    upload.start();
  });
}

function optimisticUpload(file: File, started: StoredUpload, now: Date): Upload {
  return {
    operationId: started.operationId,
    status: "uploading",
    offset: 0,
    sizeBytes: file.size,
    fileName: file.name,
    mimeType: file.type || "application/octet-stream",
    courseId: started.courseId,
    chapterId: started.chapterId,
    createdAt: now.toISOString(),
    expiresAt: started.expiresAt,
    mediaId: null,
    error: null,
  };
}

/**
 * An unfinished upload of the same file to the same place, made on another device (or in a
 * browser whose storage was cleared): `listUploads` finds it, `resumeUpload` answers its URL and a
 * fresh token. Undefined when there is none (or it can no longer be resumed).
 */
export async function findResumableUpload(
  client: LecternClient,
  file: { name: string; size: number },
  courseId: string | null,
  chapterId: string | null,
): Promise<StoredUpload | undefined> {
  const { items } = await client.action("listUploads", courseId ? { courseId } : {});
  const candidate = items.find(
    (u) =>
      u.fileName === file.name &&
      u.sizeBytes === file.size &&
      (u.chapterId ?? null) === chapterId &&
      (u.status === "pending" || u.status === "uploading"),
  );
  if (!candidate) return undefined;
  const envelope = await client.callAction("resumeUpload", { operationId: candidate.operationId });
  if (!envelope.success) return undefined; // stored, expired or cancelled meanwhile: start afresh
  const resumed = envelope.data;
  return {
    operationId: resumed.operationId,
    uploadUrl: resumed.uploadUrl,
    uploadToken: resumed.uploadToken,
    expiresAt: resumed.expiresAt,
    chunkSizeBytes: resumed.chunkSizeBytes,
    courseId,
    chapterId,
  };
}

/**
 * Upload a video (tus over the `startUpload` answer). A file chosen again after a reload or a crash
 * resumes where its bytes stopped (tus `HEAD` gives the offset) instead of starting over: from
 * this browser's storage, else from the server's list of unfinished uploads (another device).
 */
export function useVideoUpload(options: { store?: UploadStore } = {}) {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  const store = options.store ?? localStorageUploadStore();
  return useMutation<Schemas["StartedUpload"] | StoredUpload, Error, VideoUploadVariables>({
    mutationFn: async ({ file, courseId = null, chapterId = null, lessonTitle = null }) => {
      const fingerprint = uploadFingerprint(file, chapterId);
      let started = store.get(fingerprint) ?? (await findResumableUpload(client, file, courseId, chapterId));
      if (!started) {
        const answer = await client.action("startUpload", {
          fileName: file.name,
          sizeBytes: file.size,
          mimeType: file.type || "application/octet-stream",
          courseId,
          chapterId,
          lessonTitle,
        });
        started = { ...answer, courseId, chapterId };
      }
      store.set(fingerprint, started);
      const operationId = started.operationId;
      const listKey = videoKeys.list(courseId);
      queryClient.setQueryData<Upload>(uploadKeys.detail(operationId), (old) => old ?? optimisticUpload(file, started, new Date()));
      queryClient.setQueryData<UploadList>(listKey, (old) =>
        old && !old.items.some((u) => u.operationId === operationId)
          ? { ...old, items: [optimisticUpload(file, started, new Date()), ...old.items] }
          : old,
      );
      await sendWithTus(file, started, client, (bytes, total) => {
        updateUploadCaches(queryClient, courseId, operationId, (upload) =>
          isActiveUpload(upload.status) ? { ...upload, status: "uploading", offset: Math.max(upload.offset, bytes), sizeBytes: total } : upload,
        );
      });
      store.remove(fingerprint);
      // The bytes are in; the server registers the media and adds the lesson next.
      updateUploadCaches(queryClient, courseId, operationId, (upload) =>
        isActiveUpload(upload.status) ? { ...upload, status: "processing", offset: upload.sizeBytes } : upload,
      );
      return started;
    },
  });
}

export function useCancelUpload() {
  const client = useLecternClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (operationId: string) => client.action("cancelUpload", { operationId }),
    onSettled: (_data, _error, operationId) =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: uploadKeys.detail(operationId) }),
        queryClient.invalidateQueries({ queryKey: videoKeys.lists() }),
      ]),
  });
}
