import { QueryClient } from "@tanstack/react-query";
import { expect, test } from "vitest";

import { LecternClient } from "../src/actions.ts";
import { fetchUpload, uploadPercent, uploadPollInterval } from "../src/hooks/uploads.ts";
import { chapterKeys, uploadKeys, videoKeys } from "../src/keys.ts";
import { connectObserverToQueryClient, type Upload } from "../src/realtime/bridge.ts";
import { COURSE_EVENTS, CourseEventObserver, emitMessage } from "../src/realtime/observer.ts";

const upload: Upload = {
  operationId: "op1",
  status: "uploading",
  offset: 0,
  sizeBytes: 1000,
  fileName: "intro.mp4",
  mimeType: "video/mp4",
  courseId: "c1",
  chapterId: "ch1",
  createdAt: "2026-01-01T00:00:00Z",
  expiresAt: "2026-01-02T00:00:00Z",
  mediaId: null,
  error: null,
};

function setup() {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const observer = new CourseEventObserver();
  connectObserverToQueryClient(observer, queryClient);
  queryClient.setQueryData(uploadKeys.detail("op1"), upload);
  queryClient.setQueryData(videoKeys.list("c1"), { items: [upload] });
  queryClient.setQueryData(chapterKeys.list("c1"), { id: "c1", chapters: [] });
  return { queryClient, observer };
}

test("progress messages update the upload and its row in the video list", () => {
  const { queryClient, observer } = setup();
  emitMessage(observer, {
    type: "upload-progress",
    channel: "course:c1",
    seq: 4,
    courseId: "c1",
    operationId: "op1",
    data: { progress: 37.5, bytes: 375, total: 1000 },
  });
  expect(queryClient.getQueryData<Upload>(uploadKeys.detail("op1"))?.offset).toBe(375);
  expect(queryClient.getQueryData<{ items: Upload[] }>(videoKeys.list("c1"))?.items[0]?.offset).toBe(375);
  expect(uploadPercent(queryClient.getQueryData<Upload>(uploadKeys.detail("op1")))).toBe(37);
});

test("upload-complete is the dual update: videos marked completed, chapters invalidated", () => {
  const { queryClient, observer } = setup();
  emitMessage(observer, {
    type: "upload-complete",
    channel: "course:c1",
    seq: 5,
    courseId: "c1",
    operationId: "op1",
    data: { mediaId: "m1", lessonId: "l9" },
  });
  const detail = queryClient.getQueryData<Upload>(uploadKeys.detail("op1"));
  expect(detail?.status).toBe("completed");
  expect(detail?.mediaId).toBe("m1");
  expect(queryClient.getQueryData<{ items: Upload[] }>(videoKeys.list("c1"))?.items[0]?.status).toBe("completed");
  expect(queryClient.getQueryState(chapterKeys.list("c1"))?.isInvalidated).toBe(true);
  expect(queryClient.getQueryState(videoKeys.list("c1"))?.isInvalidated).toBe(true);
});

test("a late progress message does not reopen a finished upload", () => {
  const { queryClient, observer } = setup();
  observer.emit(COURSE_EVENTS.UPLOAD_COMPLETE, "c1", { operationId: "op1", mediaId: "m1", lessonId: null });
  observer.emit(COURSE_EVENTS.UPLOAD_PROGRESS, "c1", { operationId: "op1", progress: 50, bytes: 500, total: 1000 });
  expect(queryClient.getQueryData<Upload>(uploadKeys.detail("op1"))?.status).toBe("completed");
});

test("invalidate names the caches to refetch", () => {
  const { queryClient, observer } = setup();
  emitMessage(observer, { type: "invalidate", courseId: "c1", data: { resources: ["chapters"] } });
  expect(queryClient.getQueryState(chapterKeys.list("c1"))?.isInvalidated).toBe(true);
  expect(queryClient.getQueryState(videoKeys.list("c1"))?.isInvalidated).toBe(false);
});

test("polling only while the socket is not open and the upload is in flight", () => {
  expect(uploadPollInterval("uploading", "down")).toBe(1000);
  expect(uploadPollInterval("processing", "idle")).toBe(1000);
  expect(uploadPollInterval("uploading", "open")).toBe(false);
  expect(uploadPollInterval("completed", "down")).toBe(false);
});

test("a poll that finds the upload finished emits upload-complete through the observer", async () => {
  const { queryClient, observer } = setup();
  const client = new LecternClient({
    baseUrl: "",
    getToken: () => null,
    fetch: (async () =>
      new Response(JSON.stringify({ success: true, data: { ...upload, status: "completed", offset: 1000, mediaId: "m7" } }))) as unknown as typeof fetch,
  });
  const seen: string[] = [];
  observer.on(COURSE_EVENTS.UPLOAD_COMPLETE, (courseId, p) => seen.push(`${courseId}:${p.mediaId}`));
  const fetched = await fetchUpload(client, queryClient, observer, "op1");
  queryClient.setQueryData(uploadKeys.detail("op1"), fetched);
  await Promise.resolve();
  expect(seen).toEqual(["c1:m7"]);
  expect(queryClient.getQueryState(chapterKeys.list("c1"))?.isInvalidated).toBe(true);
});
