import { describe, expect, test } from "vitest";

import { ActionError, isActionError, LecternClient, sameOriginServiceUrl } from "../src/actions.ts";

function fakeFetch(status: number, body: unknown, seen: { url?: string; init?: RequestInit } = {}): typeof fetch {
  return (async (url: string, init?: RequestInit) => {
    seen.url = url;
    seen.init = init;
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
  }) as unknown as typeof fetch;
}

describe("callAction", () => {
  test("posts the input with the bearer token and answers the envelope", async () => {
    const seen: { url?: string; init?: RequestInit } = {};
    const client = new LecternClient({
      baseUrl: "http://gw/",
      getToken: () => "t0k",
      fetch: fakeFetch(200, { success: true, data: { id: "c1" } }, seen),
    });
    const envelope = await client.callAction("getCourseEdit", { courseId: "c1" }, { idempotencyKey: "k1" });
    expect(envelope).toEqual({ success: true, data: { id: "c1" } });
    expect(seen.url).toBe("http://gw/actions/getCourseEdit");
    const headers = seen.init?.headers as Record<string, string>;
    expect(headers["Authorization"]).toBe("Bearer t0k");
    expect(headers["Idempotency-Key"]).toBe("k1");
    expect(JSON.parse(String(seen.init?.body))).toEqual({ courseId: "c1" });
  });

  test("a failed action throws an ActionError with code, fields and details", async () => {
    const error = {
      code: "CONFLICT",
      message: "stale",
      reason: "course.version_conflict",
      fields: { "operations.2.title": "too long" },
      details: { currentVersion: 4, current: { id: "c1", version: 4 } },
    };
    const client = new LecternClient({ baseUrl: "", getToken: () => null, fetch: fakeFetch(409, { success: false, error }) });
    const envelope = await client.callAction("createCourse", { title: "x" });
    expect(envelope.success).toBe(false);
    const thrown = await client.action("createCourse", { title: "x" }).catch((e: unknown) => e);
    expect(isActionError(thrown, "CONFLICT")).toBe(true);
    const actionError = thrown as ActionError;
    expect(actionError.fields).toEqual({ "operations.2.title": "too long" });
    expect(actionError.details["currentVersion"]).toBe(4);
    expect(actionError.currentState()).toEqual({ id: "c1", version: 4 });
    expect(actionError.reason).toBe("course.version_conflict");
  });

  test("a network failure or a non-JSON answer is an envelope, not an exception", async () => {
    const down = new LecternClient({
      baseUrl: "",
      getToken: () => null,
      fetch: (async () => {
        throw new TypeError("Failed to fetch");
      }) as unknown as typeof fetch,
    });
    const envelope = await down.callAction("listMyCourses", {});
    expect(envelope.success === false && envelope.error.code).toBe("UNAVAILABLE");
    const proxy = new LecternClient({ baseUrl: "", getToken: () => null, fetch: fakeFetch(502, "<html>bad gateway</html>") });
    const answer = await proxy.callAction("listMyCourses", {});
    expect(answer.success === false && answer.error.code).toBe("UNAVAILABLE");
  });
});

test("sameOriginServiceUrl keeps the path and takes the page's origin (ws follows http/https)", () => {
  const resolve = sameOriginServiceUrl("https://app.example:8443");
  expect(resolve("http://127.0.0.1:8081/files/abc?x=1")).toBe("https://app.example:8443/files/abc?x=1");
  expect(resolve("ws://127.0.0.1:8082/ws")).toBe("wss://app.example:8443/ws");
  expect(sameOriginServiceUrl("http://127.0.0.1:5173")("ws://10.0.0.1:8082/ws")).toBe("ws://127.0.0.1:5173/ws");
});
