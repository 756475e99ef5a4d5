/**
 * The seed's Observer: WebSocket messages become typed course events, and whoever cares (the
 * TanStack bridge, a toast) subscribes. Nothing here knows React or the cache, which is what keeps
 * the socket, the hooks and the cache free of circular dependencies.
 */

export const COURSE_EVENTS = {
  UPLOAD_PROGRESS: "upload-progress",
  UPLOAD_COMPLETE: "upload-complete",
  UPLOAD_FAILED: "upload-failed",
  INVALIDATE: "invalidate",
} as const;

export type CourseEventName = (typeof COURSE_EVENTS)[keyof typeof COURSE_EVENTS];

export interface UploadProgressPayload {
  operationId: string;
  /** 0–100 */
  progress: number;
  bytes: number;
  total: number;
}

export interface UploadCompletePayload {
  operationId: string;
  mediaId: string | null;
  lessonId: string | null;
}

export interface UploadFailedPayload {
  operationId: string;
  error: string;
  /** `failed`, `expired` or `cancelled` */
  status: string;
}

export interface InvalidatePayload {
  /** The client caches to refetch, e.g. `["videos", "chapters"]`. */
  resources: string[];
}

export interface CourseEventPayloads {
  "upload-progress": UploadProgressPayload;
  "upload-complete": UploadCompletePayload;
  "upload-failed": UploadFailedPayload;
  invalidate: InvalidatePayload;
}

/** `courseId` is null for messages on the user's own channel (an upload made without a course). */
export type CourseEventHandler<E extends CourseEventName> = (courseId: string | null, payload: CourseEventPayloads[E]) => void;

export class CourseEventObserver {
  private readonly handlers = new Map<CourseEventName, Set<CourseEventHandler<CourseEventName>>>();

  on<E extends CourseEventName>(event: E, handler: CourseEventHandler<E>): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    const stored = handler as unknown as CourseEventHandler<CourseEventName>;
    set.add(stored);
    return () => {
      set.delete(stored);
    };
  }

  emit<E extends CourseEventName>(event: E, courseId: string | null, payload: CourseEventPayloads[E]): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        (handler as unknown as CourseEventHandler<E>)(courseId, payload);
      } catch (error) {
        // One faulty listener must not starve the others (or the socket's read loop).
        console.error(`courseEventObserver: a ${event} handler failed`, error);
      }
    }
  }
}

/** The one observer of a page, as the seed names it. */
export const courseEventObserver = new CourseEventObserver();

/** A server message as realtime sends it (API.md section 2). */
export interface RealtimeMessage {
  type: string;
  channel?: string;
  seq?: number;
  courseId?: string;
  operationId?: string;
  data?: Record<string, unknown>;
  [key: string]: unknown;
}

function num(value: unknown, fallback = 0): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** Emit the course event a message stands for; answers whether it was one. */
export function emitMessage(observer: CourseEventObserver, message: RealtimeMessage): boolean {
  const courseId = str(message.courseId);
  const data = message.data ?? {};
  const operationId = str(message.operationId);
  switch (message.type) {
    case COURSE_EVENTS.UPLOAD_PROGRESS:
      if (!operationId) return false;
      observer.emit(COURSE_EVENTS.UPLOAD_PROGRESS, courseId, {
        operationId,
        progress: Math.max(0, Math.min(100, num(data["progress"]))),
        bytes: num(data["bytes"]),
        total: num(data["total"]),
      });
      return true;
    case COURSE_EVENTS.UPLOAD_COMPLETE:
      if (!operationId) return false;
      observer.emit(COURSE_EVENTS.UPLOAD_COMPLETE, courseId, {
        operationId,
        mediaId: str(data["mediaId"]),
        lessonId: str(data["lessonId"]),
      });
      return true;
    case COURSE_EVENTS.UPLOAD_FAILED:
      if (!operationId) return false;
      observer.emit(COURSE_EVENTS.UPLOAD_FAILED, courseId, {
        operationId,
        error: str(data["error"]) ?? "upload failed",
        status: str(data["status"]) ?? "failed",
      });
      return true;
    case COURSE_EVENTS.INVALIDATE: {
      const resources = Array.isArray(data["resources"])
        ? data["resources"].filter((r): r is string => typeof r === "string")
        : [];
      observer.emit(COURSE_EVENTS.INVALIDATE, courseId, { resources });
      return true;
    }
    default:
      return false;
  }
}
