/**
 * The tab coordination and the socket's life, with in-memory stand-ins for what the browser
 * provides (Web Locks, BroadcastChannel, WebSocket): the real ones are exercised by the browser
 * tests on the launched stack (tests/e2e/test_editor_browser.py), which count sockets on the
 * realtime side.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";

import { LecternClient } from "../src/actions.ts";
import {
  backoffDelay,
  type BroadcastChannelLike,
  type LockManagerLike,
  RealtimeClient,
  SeqTracker,
  type WebSocketLike,
} from "../src/realtime/client.ts";
import { COURSE_EVENTS, CourseEventObserver } from "../src/realtime/observer.ts";

class FakeLocks implements LockManagerLike {
  private held = false;
  private readonly queue: Array<() => void> = [];
  request(_name: string, callback: () => Promise<void>): Promise<unknown> {
    return new Promise((resolve) => {
      const run = () => {
        this.held = true;
        void callback().then(() => {
          this.held = false;
          resolve(undefined);
          this.queue.shift()?.();
        });
      };
      if (this.held) this.queue.push(run);
      else run();
    });
  }
}

class FakeChannelHub {
  private readonly members = new Set<FakeChannel>();
  create = (): BroadcastChannelLike => {
    const channel = new FakeChannel(this.members);
    this.members.add(channel);
    return channel;
  };
}

class FakeChannel implements BroadcastChannelLike {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  constructor(private readonly members: Set<FakeChannel>) {}
  postMessage(message: unknown): void {
    const copy = structuredClone(message);
    for (const other of this.members) {
      if (other !== this) queueMicrotask(() => other.onmessage?.({ data: copy }));
    }
  }
  close(): void {
    this.members.delete(this);
  }
}

class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  sent: Array<Record<string, unknown>> = [];
  closed = false;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(): void {
    this.closed = true;
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(message: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: "" });
  }
}

function tokenClient(tokens: Array<string[]>): LecternClient {
  return new LecternClient({
    baseUrl: "",
    getToken: () => "user-token",
    fetch: (async (_url: string, init?: RequestInit) => {
      const input = JSON.parse(String(init?.body)) as { courseIds: string[] };
      tokens.push(input.courseIds);
      const data = { url: "ws://realtime/ws", token: `rt-${tokens.length}`, courseIds: input.courseIds, expiresAt: "" };
      return new Response(JSON.stringify({ success: true, data }));
    }) as unknown as typeof fetch,
  });
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await vi.advanceTimersByTimeAsync(0);
}

describe("one socket per browser", () => {
  let sockets: FakeSocket[];
  let tokens: Array<string[]>;
  let hub: FakeChannelHub;
  let locks: FakeLocks;

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    tokens = [];
    hub = new FakeChannelHub();
    locks = new FakeLocks();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function tab(observer = new CourseEventObserver()) {
    return new RealtimeClient({
      client: tokenClient(tokens),
      observer,
      locks,
      createChannel: hub.create,
      createSocket: (url) => {
        const socket = new FakeSocket(url);
        sockets.push(socket);
        return socket;
      },
      random: () => 0.5,
    });
  }

  test("two tabs share the leader's socket; messages reach both; the follower's course is subscribed", async () => {
    const seenA: string[] = [];
    const seenB: string[] = [];
    const observerA = new CourseEventObserver();
    const observerB = new CourseEventObserver();
    observerA.on(COURSE_EVENTS.UPLOAD_PROGRESS, (courseId, p) => seenA.push(`${courseId}:${p.operationId}:${p.progress}`));
    observerB.on(COURSE_EVENTS.UPLOAD_PROGRESS, (courseId, p) => seenB.push(`${courseId}:${p.operationId}:${p.progress}`));
    const a = tab(observerA);
    const b = tab(observerB);
    a.start();
    b.start();
    a.watchCourse("c1");
    b.watchCourse("c2");
    await settle();
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    // A token for c2 arrived after the first one was asked for: the leader reconnected once with both.
    const live = sockets.filter((s) => !s.closed);
    expect(live).toHaveLength(1);
    const socket = live[0]!;
    expect(socket.url).toContain("token=");
    socket.open();
    await settle();
    const subscribed = socket.sent.filter((f) => f["type"] === "subscribe").map((f) => f["channel"]);
    expect(new Set(subscribed)).toEqual(new Set(["course:c1", "course:c2"]));
    expect(a.getStatus()).toBe("open");
    expect(b.getStatus()).toBe("open");

    socket.push({ type: "upload-progress", channel: "course:c2", seq: 1, courseId: "c2", operationId: "op1", data: { progress: 40, bytes: 4, total: 10 } });
    socket.push({ type: "upload-progress", channel: "course:c2", seq: 1, courseId: "c2", operationId: "op1", data: { progress: 40, bytes: 4, total: 10 } });
    await settle();
    expect(seenA).toEqual(["c2:op1:40"]);
    expect(seenB).toEqual(["c2:op1:40"]);
  });

  test("when the leader closes, the next tab takes the lock and reconnects with since", async () => {
    const a = tab();
    const b = tab();
    a.start();
    b.start();
    a.watchCourse("c1");
    b.watchCourse("c1");
    await settle();
    const first = sockets.at(-1)!;
    first.open();
    first.push({ type: "subscribed", channel: "course:c1", seq: 6, recovered: true });
    first.push({ type: "invalidate", channel: "course:c1", seq: 7, courseId: "c1", data: { resources: ["chapters"] } });
    await settle();
    a.stop();
    await settle();
    expect(first.closed).toBe(true);
    expect(b.isLeader).toBe(true);
    const second = sockets.at(-1)!;
    expect(second).not.toBe(first);
    second.open();
    await settle();
    expect(second.sent).toContainEqual({ type: "subscribe", channel: "course:c1", since: 7 });
  });

  test("a dropped socket reconnects with backoff and resubscribes with since", async () => {
    const a = tab();
    a.start();
    a.watchCourse("c1");
    await settle();
    const first = sockets.at(-1)!;
    first.open();
    first.push({ type: "upload-progress", channel: "course:c1", seq: 3, courseId: "c1", operationId: "op", data: { progress: 1 } });
    first.drop();
    expect(a.getStatus()).toBe("down");
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(backoffDelay(0, 500, 15000, () => 0.5) + 1);
    await settle();
    const second = sockets.at(-1)!;
    expect(second).not.toBe(first);
    second.open();
    expect(second.sent).toContainEqual({ type: "subscribe", channel: "course:c1", since: 3 });
    expect(a.getStatus()).toBe("open");
  });

  test("a socket that goes silent (server stopped) is declared down by the heartbeat", async () => {
    const a = tab();
    a.start();
    a.watchCourse("c1");
    await settle();
    const socket = sockets.at(-1)!;
    socket.open();
    expect(a.getStatus()).toBe("open");
    await vi.advanceTimersByTimeAsync(5_000);
    expect(socket.sent).toContainEqual({ type: "ping" });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.getStatus()).not.toBe("open");
    expect(socket.closed).toBe(true);
  });
});

test("SeqTracker drops repeats per channel and remembers since", () => {
  const seqs = new SeqTracker();
  expect(seqs.accept({ type: "invalidate", channel: "course:a", seq: 1 })).toBe(true);
  expect(seqs.accept({ type: "invalidate", channel: "course:a", seq: 1 })).toBe(false);
  expect(seqs.accept({ type: "invalidate", channel: "course:b", seq: 1 })).toBe(true);
  expect(seqs.accept({ type: "subscribed", channel: "course:a", seq: 9 })).toBe(true);
  expect(seqs.accept({ type: "invalidate", channel: "course:a", seq: 5 })).toBe(false);
  expect(seqs.since("course:a")).toBe(9);
});

test("backoff doubles up to the ceiling", () => {
  expect(backoffDelay(0, 500, 15000, () => 1)).toBe(500);
  expect(backoffDelay(3, 500, 15000, () => 1)).toBe(4000);
  expect(backoffDelay(10, 500, 15000, () => 1)).toBe(15000);
  expect(backoffDelay(10, 500, 15000, () => 0)).toBe(250);
});
