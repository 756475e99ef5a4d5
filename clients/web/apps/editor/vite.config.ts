/**
 * The editor is served on one origin with the stack behind it, the way one Ingress serves
 * production (ARCHITECTURE section 8): `/actions` and `/auth` go to the gateway, `/files` to
 * upload (tus), `/ws` to realtime. The browser therefore never makes a cross-origin request, and
 * the client maps the absolute upload and WebSocket URLs the gateway hands out onto this origin.
 *
 * The launcher runs `vite preview` with the stack's URLs in these variables (see
 * lectern_common.devstack.editor); `vite` (dev) reads the same ones.
 */
import react from "@vitejs/plugin-react";
import { defineConfig, type ProxyOptions } from "vite";

function target(name: string, fallback: string): string {
  return process.env[name] || fallback;
}

const gateway = target("LECTERN_EDITOR_GATEWAY_URL", "http://127.0.0.1:8080");
const upload = target("LECTERN_EDITOR_UPLOAD_URL", "http://127.0.0.1:8081");
const realtime = target("LECTERN_EDITOR_REALTIME_URL", "http://127.0.0.1:8082");

const proxy: Record<string, ProxyOptions> = {
  "/actions": { target: gateway },
  "/auth": { target: gateway },
  // tus: no timeout of the proxy's own on a long PATCH; bodies are streamed, never buffered.
  "/files": { target: upload, timeout: 0, proxyTimeout: 0 },
  "/ws": { target: realtime, ws: true },
};

export default defineConfig({
  plugins: [react()],
  server: { host: "127.0.0.1", proxy },
  preview: { host: "127.0.0.1", proxy },
  build: { sourcemap: true },
});
