/**
 * TanStack Query key factories, with the seed's names. Keys are hierarchical, so invalidating
 * `courseKeys.all` reaches every course query and `mediaKeys.lists()` every media list.
 *
 * Chapters are served inside the course's edit document (`getCourseEdit`), so
 * `chapterKeys.list(courseId)` is the key of that one cache entry, named for what the seed's
 * "dual cache update" refreshes; `videoKeys.list(courseId)` holds the course's uploads (in flight
 * and finished) that progress messages update.
 */

export type DashboardName = "storage" | "content" | "roi" | "capacity";

export interface AnalyticsRange {
  from: string;
  to: string;
  courseId?: string | null;
}

export const courseKeys = {
  all: ["courses"] as const,
  lists: () => [...courseKeys.all, "list"] as const,
  list: (filters: { includeDeleted?: boolean } = {}) => [...courseKeys.lists(), filters] as const,
  edits: () => [...courseKeys.all, "edit"] as const,
  edit: (courseId: string) => [...courseKeys.edits(), courseId] as const,
};

export const chapterKeys = {
  /** The chapters (with lessons and their media) of one course: the course's edit document. */
  list: (courseId: string) => courseKeys.edit(courseId),
};

export const videoKeys = {
  all: ["videos"] as const,
  lists: () => [...videoKeys.all, "list"] as const,
  /** The uploads of one course (`listUploads({courseId})`); `null`: uploads without a course. */
  list: (courseId: string | null) => [...videoKeys.lists(), courseId] as const,
};

export const uploadKeys = {
  all: ["uploads"] as const,
  details: () => [...uploadKeys.all, "detail"] as const,
  /** One upload's status and progress (`getUpload`, fed live by progress messages). */
  detail: (operationId: string) => [...uploadKeys.details(), operationId] as const,
};

export const mediaKeys = {
  all: ["media"] as const,
  lists: () => [...mediaKeys.all, "list"] as const,
  list: (filters: { query?: string; includeDeleted?: boolean; status?: string } = {}) =>
    [...mediaKeys.lists(), filters] as const,
  details: () => [...mediaKeys.all, "detail"] as const,
  detail: (mediaId: string) => [...mediaKeys.details(), mediaId] as const,
  usage: (mediaId: string) => [...mediaKeys.all, "usage", mediaId] as const,
  deletePreview: (mediaId: string, mode: "soft" | "hard") => [...mediaKeys.all, "delete-preview", mediaId, mode] as const,
  audit: (mediaId: string) => [...mediaKeys.all, "audit", mediaId] as const,
};

/** One key per analytics domain (dashboard), each cached and invalidated on its own. */
export const analyticsKeys = {
  all: ["analytics"] as const,
  storage: (range: AnalyticsRange) => [...analyticsKeys.all, "storage", range] as const,
  content: (range: AnalyticsRange) => [...analyticsKeys.all, "content", range] as const,
  roi: (range: AnalyticsRange) => [...analyticsKeys.all, "roi", range] as const,
  capacity: (range: AnalyticsRange) => [...analyticsKeys.all, "capacity", range] as const,
  dashboard: (name: DashboardName, range: AnalyticsRange) => analyticsKeys[name](range),
};

/** Analytics are aggregates: five minutes stale is fresh enough and spares the server (the seed). */
export const ANALYTICS_STALE_TIME_MS = 5 * 60 * 1000;
