/**
 * Server actions: `POST /actions/{name}` with a JSON body, answered in the envelope
 * `{success: true, data}` or `{success: false, error: {code, message, fields?, details?}}`.
 *
 * Every name, input and `data` type comes from the gateway's OpenAPI document
 * (`src/generated/openapi.ts`, generated from `openapi.json`); nothing here is written by hand
 * per action, so a new action is typed as soon as the types are regenerated.
 */
import type { components, operations, paths } from "./generated/openapi.ts";

export type Schemas = components["schemas"];

type ActionPath = Extract<keyof paths, `/actions/${string}`>;
/** Every action the gateway serves: `createCourse`, `saveCourseChanges`, … */
export type ActionName = ActionPath extends `/actions/${infer Name}` ? Name : never;

type OperationOf<N extends ActionName> = paths[`/actions/${N}`] extends { post: infer Op } ? Op : never;

/** The JSON body an action takes. */
export type ActionInput<N extends ActionName> =
  OperationOf<N> extends { requestBody: { content: { "application/json": infer Body } } } ? Body : never;

/** The `data` of an action's success envelope. */
export type ActionData<N extends ActionName> =
  OperationOf<N> extends { responses: { 200: { content: { "application/json": { data: infer Data } } } } }
    ? Data
    : never;

export type ErrorCode = Schemas["ErrorBody"]["code"];

/** The error half of the envelope, as the gateway sends it (`fields`/`details` only when present). */
export interface ActionErrorBody {
  code: ErrorCode;
  message: string;
  reason?: string;
  fields?: Record<string, string> | null;
  details?: Record<string, unknown> | null;
}

export type Envelope<T> = { success: true; data: T } | { success: false; error: ActionErrorBody };

/**
 * A failed action as an exception, for TanStack Query (which wants a thrown error).
 * `fields` is keyed by input path (`operations.2.title`), ready for a form's `setError`.
 */
export class ActionError extends Error {
  readonly code: ErrorCode;
  readonly reason: string | undefined;
  readonly fields: Record<string, string>;
  readonly details: Record<string, unknown>;
  readonly action: string;

  constructor(action: string, body: ActionErrorBody) {
    super(body.message);
    this.name = "ActionError";
    this.action = action;
    this.code = body.code;
    this.reason = body.reason;
    this.fields = body.fields ?? {};
    this.details = body.details ?? {};
  }

  /** `CONFLICT` on a save carries the current state in `details.current`. */
  currentState<T>(): T | undefined {
    return this.details["current"] as T | undefined;
  }
}

export function isActionError(error: unknown, code?: ErrorCode): error is ActionError {
  return error instanceof ActionError && (code === undefined || error.code === code);
}

export interface LecternClientOptions {
  /** Where the gateway is; `""` (same origin) when a proxy or an Ingress routes `/actions`. */
  baseUrl: string;
  /** The user's bearer token, read on every call (it changes on login). */
  getToken: () => string | null;
  /**
   * Maps the absolute URLs the gateway hands out (tus `uploadUrl`, the WebSocket `url`) to the
   * ones this page should use. Behind one Ingress (or the editor's dev server) they are the same
   * paths on the page's own origin: see `sameOriginServiceUrl`.
   */
  resolveServiceUrl?: (url: string) => string;
  fetch?: typeof fetch;
}

export interface CallOptions {
  idempotencyKey?: string;
  signal?: AbortSignal;
}

function networkError(message: string): ActionErrorBody {
  return { code: "UNAVAILABLE", reason: "client.network", message };
}

/** The client every hook uses: one per app, handed down by `LecternProvider`. */
export class LecternClient {
  readonly baseUrl: string;
  readonly resolveServiceUrl: (url: string) => string;
  private readonly getToken: () => string | null;
  private readonly fetchImpl: typeof fetch;

  constructor(options: LecternClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/$/, "");
    this.getToken = options.getToken;
    this.resolveServiceUrl = options.resolveServiceUrl ?? ((url) => url);
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  get token(): string | null {
    return this.getToken();
  }

  /** Call an action and answer its envelope; never throws (a network failure is `UNAVAILABLE`). */
  async callAction<N extends ActionName>(
    name: N,
    input: ActionInput<N>,
    options: CallOptions = {},
  ): Promise<Envelope<ActionData<N>>> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    const token = this.getToken();
    if (token) headers["Authorization"] = `Bearer ${token}`;
    if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}/actions/${name}`, {
        method: "POST",
        headers,
        body: JSON.stringify(input),
        signal: options.signal ?? null,
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      return { success: false, error: networkError(`the gateway could not be reached: ${String(error)}`) };
    }
    return parseEnvelope<ActionData<N>>(response);
  }

  /** Call an action and answer its `data`, or throw an {@link ActionError}. */
  async action<N extends ActionName>(name: N, input: ActionInput<N>, options?: CallOptions): Promise<ActionData<N>> {
    const envelope = await this.callAction(name, input, options);
    if (!envelope.success) throw new ActionError(name, envelope.error);
    return envelope.data;
  }

  /** Dev mode only (`make up`): a token for any user id, from `POST /auth/dev/token`. */
  async devLogin(userId: string, name?: string): Promise<Schemas["DevToken"]> {
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}/auth/dev/token`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(name ? { userId, name } : { userId }),
      });
    } catch (error) {
      throw new ActionError("devLogin", networkError(String(error)));
    }
    const envelope = await parseEnvelope<Schemas["DevToken"]>(response);
    if (!envelope.success) throw new ActionError("devLogin", envelope.error);
    return envelope.data;
  }
}

async function parseEnvelope<T>(response: Response): Promise<Envelope<T>> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    // A proxy's HTML error page, or a body cut short: not the gateway's answer.
    return {
      success: false,
      error: networkError(`the gateway answered ${response.status} without a JSON envelope`),
    };
  }
  if (typeof body === "object" && body !== null && "success" in body) {
    return body as Envelope<T>;
  }
  return { success: false, error: { code: "INTERNAL", message: `unexpected answer (HTTP ${response.status})` } };
}

/**
 * For a page served behind the same origin as the stack (one Ingress in production, the editor's
 * dev server under `make up`): keep the path and query of a service URL, take the page's origin.
 */
export function sameOriginServiceUrl(pageOrigin: string): (url: string) => string {
  return (url) => {
    const parsed = new URL(url, pageOrigin);
    const origin = new URL(pageOrigin);
    if (parsed.protocol === "ws:" || parsed.protocol === "wss:") {
      parsed.protocol = origin.protocol === "https:" ? "wss:" : "ws:";
    } else {
      parsed.protocol = origin.protocol;
    }
    parsed.host = origin.host;
    return parsed.toString();
  };
}
