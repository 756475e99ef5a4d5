/**
 * One WebSocket per browser, not per tab.
 *
 * Every tab runs a `RealtimeClient`. The tabs elect a leader with the Web Locks API: the first to
 * ask holds the lock for as long as it lives, and when it closes (or crashes) the browser hands the
 * lock to the next tab in line, which becomes the leader. Only the leader opens the socket. Tabs
 * talk over a BroadcastChannel: each tells the leader which courses it watches (`want`), the
 * leader relays every server message and its connection status to the others, and a new leader
 * announces itself so the others tell it their courses again.
 *
 * The leader reconnects with exponential backoff (with jitter) and subscribes with `since`, the
 * last seq seen per channel, so realtime replays what the gap missed. Every tab drops messages
 * whose seq it has already seen, so a replay after a change of leader shows nothing twice. A
 * heartbeat (`ping` every few seconds) finds a socket that is open but silent (a stopped server,
 * a dead network path) and replaces it; until then, and whenever the socket is down, `status`
 * says so and uploads are followed by polling (see `hooks/uploads.ts`).
 *
 * Without Web Locks (old browsers) every tab is its own leader: one socket per tab, still correct.
 */
import type { LecternClient } from "../actions.ts";
import { type CourseEventObserver, courseEventObserver, emitMessage, type RealtimeMessage } from "./observer.ts";

export type RealtimeStatus = "idle" | "connecting" | "open" | "down";

type TabMessage =
  | { kind: "want"; tabId: string; courses: string[] }
  | { kind: "bye"; tabId: string }
  | { kind: "leader"; tabId: string }
  | { kind: "ask"; tabId: string }
  | { kind: "status"; status: RealtimeStatus }
  | { kind: "message"; message: RealtimeMessage };

export interface BroadcastChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface LockManagerLike {
  request(name: string, callback: () => Promise<void>): Promise<unknown>;
}

export interface RealtimeOptions {
  client: LecternClient;
  observer?: CourseEventObserver;
  /** BroadcastChannel and Web Lock name; tabs with the same name share one socket. */
  name?: string;
  pingIntervalMs?: number;
  /** No frame (pong or other) for this long after a ping: the socket is dead. */
  pongTimeoutMs?: number;
  connectTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  createSocket?: (url: string) => WebSocketLike;
  createChannel?: (name: string) => BroadcastChannelLike | null;
  locks?: LockManagerLike | null;
  random?: () => number;
}

function defaultLocks(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks ?? null;
}

function defaultChannel(name: string): BroadcastChannelLike | null {
  return typeof BroadcastChannel === "undefined" ? null : (new BroadcastChannel(name) as unknown as BroadcastChannelLike);
}

/** Exponential backoff with full jitter: attempt 0 waits up to `min`, then doubling up to `max`. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.round(minMs / 2 + random() * (ceiling - minMs / 2));
}

/** The last seq seen on each channel; a message at or below it is a repeat. */
export class SeqTracker {
  private readonly last = new Map<string, number>();

  /** True when `message` is new (or carries no seq); records its seq. */
  accept(message: RealtimeMessage): boolean {
    if (typeof message.channel !== "string" || typeof message.seq !== "number") return true;
    if (message.type === "subscribed") {
      this.last.set(message.channel, Math.max(this.last.get(message.channel) ?? 0, message.seq));
      return true;
    }
    const seen = this.last.get(message.channel);
    if (seen !== undefined && message.seq <= seen) return false;
    this.last.set(message.channel, message.seq);
    return true;
  }

  since(channel: string): number | undefined {
    return this.last.get(channel);
  }

  channels(): string[] {
    return [...this.last.keys()];
  }
}

function randomId(): string {
  const cryptoApi = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return cryptoApi?.randomUUID?.() ?? `tab-${Math.random().toString(36).slice(2)}-${Date.now()}`;
}

export class RealtimeClient {
  readonly tabId = randomId();
  readonly observer: CourseEventObserver;
  private readonly options: Required<
    Pick<RealtimeOptions, "pingIntervalMs" | "pongTimeoutMs" | "connectTimeoutMs" | "minBackoffMs" | "maxBackoffMs" | "name">
  >;
  private readonly client: LecternClient;
  private readonly createSocket: (url: string) => WebSocketLike;
  private readonly createChannel: (name: string) => BroadcastChannelLike | null;
  private readonly locks: LockManagerLike | null;
  private readonly random: () => number;
  private readonly seqs = new SeqTracker();
  /** Courses this tab watches, with how many components asked. */
  private readonly watched = new Map<string, number>();
  /** Leader only: every tab's courses. */
  private readonly wantsByTab = new Map<string, Set<string>>();
  private readonly listeners = new Set<() => void>();
  private status: RealtimeStatus = "idle";
  private channel: BroadcastChannelLike | null = null;
  private leaderSocket: LeaderSocket | null = null;
  private releaseLock: (() => void) | null = null;
  private started = false;

  constructor(options: RealtimeOptions) {
    this.client = options.client;
    this.observer = options.observer ?? courseEventObserver;
    this.options = {
      name: options.name ?? "lectern-realtime",
      pingIntervalMs: options.pingIntervalMs ?? 5_000,
      pongTimeoutMs: options.pongTimeoutMs ?? 4_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      minBackoffMs: options.minBackoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 15_000,
    };
    this.createSocket = options.createSocket ?? ((url) => new WebSocket(url) as unknown as WebSocketLike);
    this.createChannel = options.createChannel ?? defaultChannel;
    this.locks = options.locks === undefined ? defaultLocks() : options.locks;
    this.random = options.random ?? Math.random;
  }

  get isLeader(): boolean {
    return this.leaderSocket !== null;
  }

  getStatus = (): RealtimeStatus => this.status;

  /** For `useSyncExternalStore`. */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Join the browser's tabs: become the leader if none is, else follow it. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.channel = this.createChannel(this.options.name);
    if (this.channel) this.channel.onmessage = (event) => this.onTabMessage(event.data as TabMessage);
    if (this.locks && this.channel) {
      void this.locks
        .request(
          `${this.options.name}-leader`,
          () =>
            new Promise<void>((resolve) => {
              this.releaseLock = resolve;
              if (this.started) this.becomeLeader();
              else resolve();
            }),
        )
        .catch(() => this.becomeLeader());
      this.setStatus("connecting");
      this.post({ kind: "ask", tabId: this.tabId });
      this.announceWants();
    } else {
      this.becomeLeader();
    }
  }

  /** Leave: a follower says goodbye; a leader closes its socket and hands the lock on. */
  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.post({ kind: "bye", tabId: this.tabId });
    this.leaderSocket?.close();
    this.leaderSocket = null;
    this.releaseLock?.();
    this.releaseLock = null;
    this.channel?.close();
    this.channel = null;
    this.setStatus("idle");
  }

  /** Receive `course:<courseId>` messages in this tab until the returned function is called. */
  watchCourse(courseId: string): () => void {
    this.watched.set(courseId, (this.watched.get(courseId) ?? 0) + 1);
    this.wantsChanged();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const count = (this.watched.get(courseId) ?? 1) - 1;
      if (count <= 0) this.watched.delete(courseId);
      else this.watched.set(courseId, count);
      this.wantsChanged();
    };
  }

  private wantsChanged(): void {
    if (this.leaderSocket) {
      this.wantsByTab.set(this.tabId, new Set(this.watched.keys()));
      this.leaderSocket.setCourses(this.allCourses());
    } else {
      this.announceWants();
    }
  }

  private announceWants(): void {
    this.post({ kind: "want", tabId: this.tabId, courses: [...this.watched.keys()] });
  }

  private allCourses(): Set<string> {
    const all = new Set<string>();
    for (const courses of this.wantsByTab.values()) for (const c of courses) all.add(c);
    return all;
  }

  private becomeLeader(): void {
    if (this.leaderSocket || !this.started) return;
    this.wantsByTab.set(this.tabId, new Set(this.watched.keys()));
    this.leaderSocket = new LeaderSocket({
      client: this.client,
      seqs: this.seqs,
      createSocket: this.createSocket,
      random: this.random,
      ...this.options,
      onMessage: (message) => {
        if (!this.seqs.accept(message)) return;
        this.post({ kind: "message", message });
        emitMessage(this.observer, message);
      },
      onStatus: (status) => {
        this.setStatus(status);
        this.post({ kind: "status", status });
      },
    });
    this.post({ kind: "leader", tabId: this.tabId });
    this.leaderSocket.setCourses(this.allCourses());
  }

  private onTabMessage(message: TabMessage): void {
    switch (message.kind) {
      case "want":
        if (this.leaderSocket) {
          this.wantsByTab.set(message.tabId, new Set(message.courses));
          this.leaderSocket.setCourses(this.allCourses());
        }
        break;
      case "bye":
        if (this.leaderSocket) {
          this.wantsByTab.delete(message.tabId);
          this.leaderSocket.setCourses(this.allCourses());
        }
        break;
      case "ask":
        if (this.leaderSocket) this.post({ kind: "status", status: this.status });
        break;
      case "leader":
        if (!this.leaderSocket) this.announceWants();
        break;
      case "status":
        if (!this.leaderSocket) this.setStatus(message.status);
        break;
      case "message":
        if (!this.leaderSocket && this.seqs.accept(message.message)) emitMessage(this.observer, message.message);
        break;
    }
  }

  private post(message: TabMessage): void {
    try {
      this.channel?.postMessage(message);
    } catch {
      // The channel closed under us (the tab is going away): nothing to tell.
    }
  }

  private setStatus(status: RealtimeStatus): void {
    if (this.status === status) return;
    this.status = status;
    for (const listener of [...this.listeners]) listener();
  }
}

interface LeaderSocketOptions {
  client: LecternClient;
  seqs: SeqTracker;
  createSocket: (url: string) => WebSocketLike;
  random: () => number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  connectTimeoutMs: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  onMessage: (message: RealtimeMessage) => void;
  onStatus: (status: RealtimeStatus) => void;
}

/** The leader's socket: token, connect, subscribe with `since`, heartbeat, reconnect. */
class LeaderSocket {
  private courses = new Set<string>();
  private tokenCourses = new Set<string>();
  private subscribed = new Set<string>();
  private socket: WebSocketLike | null = null;
  private attempt = 0;
  private closed = false;
  private connecting = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private lastHeardAt = 0;

  constructor(private readonly o: LeaderSocketOptions) {}

  setCourses(courses: Set<string>): void {
    this.courses = courses;
    if (this.closed) return;
    const needsNewToken = [...courses].some((c) => !this.tokenCourses.has(c));
    if (!this.socket && !this.connecting && !this.reconnectTimer) {
      // Coalesce: the tabs' wants arrive one by one right after a start; one token for all.
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        void this.connect();
      }, 0);
    } else if (needsNewToken && this.socket) {
      // The token names the courses it may subscribe to: a new course needs a new token.
      this.replace();
    } else if (this.socket?.readyState === 1) {
      this.subscribeAll();
    }
  }

  close(): void {
    this.closed = true;
    this.clearTimers();
    this.detach()?.close(1000, "tab closed");
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    this.connecting = true;
    this.o.onStatus(this.attempt === 0 ? "connecting" : "down");
    const courseIds = [...this.courses];
    let token: { url: string; token: string; courseIds: string[] };
    try {
      token = await this.o.client.action("getRealtimeToken", { courseIds });
    } catch {
      this.connecting = false;
      this.scheduleReconnect();
      return;
    }
    this.connecting = false;
    if (this.closed) return;
    if ([...this.courses].some((c) => !courseIds.includes(c))) {
      // Courses were asked for while the token was on its way: that token cannot subscribe them.
      void this.connect();
      return;
    }
    this.tokenCourses = new Set(token.courseIds ?? courseIds);
    const url = new URL(this.o.client.resolveServiceUrl(token.url));
    url.searchParams.set("token", token.token);
    let socket: WebSocketLike;
    try {
      socket = this.o.createSocket(url.toString());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.subscribed = new Set();
    this.connectTimer = setTimeout(() => this.lost(), this.o.connectTimeoutMs);
    socket.onopen = () => {
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      this.attempt = 0;
      this.lastHeardAt = Date.now();
      this.o.onStatus("open");
      // Recover the user channel's gap too (the server subscribes it on connect, without since).
      for (const channel of this.o.seqs.channels()) {
        if (channel.startsWith("user:")) this.send({ type: "subscribe", channel, since: this.o.seqs.since(channel) });
      }
      this.subscribeAll();
      this.startHeartbeat();
      // A course asked for while the token was fetched needs the next token.
      if ([...this.courses].some((c) => !this.tokenCourses.has(c))) this.replace();
    };
    socket.onmessage = (event) => {
      this.lastHeardAt = Date.now();
      if (typeof event.data !== "string") return;
      let message: RealtimeMessage;
      try {
        message = JSON.parse(event.data) as RealtimeMessage;
      } catch {
        return;
      }
      if (message.type === "pong") return;
      this.o.onMessage(message);
    };
    socket.onclose = () => this.lost();
    socket.onerror = () => undefined; // onclose follows
  }

  private subscribeAll(): void {
    for (const courseId of this.courses) {
      if (!this.tokenCourses.has(courseId)) continue;
      const channel = `course:${courseId}`;
      if (this.subscribed.has(channel)) continue;
      this.subscribed.add(channel);
      const since = this.o.seqs.since(channel);
      this.send(since === undefined ? { type: "subscribe", channel } : { type: "subscribe", channel, since });
    }
  }

  private send(frame: Record<string, unknown>): void {
    try {
      this.socket?.send(JSON.stringify(frame));
    } catch {
      // Closing already: onclose reconnects.
    }
  }

  private startHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeardAt > this.o.pingIntervalMs + this.o.pongTimeoutMs) {
        this.lost();
        return;
      }
      this.send({ type: "ping" });
    }, this.o.pingIntervalMs);
  }

  /** Take the socket's handlers off so a late close event of an abandoned socket does nothing. */
  private detach(): WebSocketLike | null {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = null;
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
    }
    return socket;
  }

  /** Reconnect at once with a fresh token (new courses), keeping `since`. */
  private replace(): void {
    this.clearTimers();
    this.detach()?.close(1000, "new token");
    void this.connect();
  }

  /** The socket closed, timed out or went silent: down until a reconnect opens. */
  private lost(): void {
    this.clearTimers();
    const socket = this.detach();
    try {
      socket?.close();
    } catch {
      // already closed
    }
    if (this.closed) return;
    this.o.onStatus("down");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.o.onStatus("down");
    const delay = backoffDelay(this.attempt, this.o.minBackoffMs, this.o.maxBackoffMs, this.o.random);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  private clearTimers(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.heartbeat = null;
    this.connectTimer = null;
    this.reconnectTimer = null;
  }
}
