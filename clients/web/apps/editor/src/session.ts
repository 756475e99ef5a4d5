/**
 * Who is signed in: the dev token, kept in localStorage so every tab of the browser shares it
 * (and a `storage` event tells the other tabs of a login or logout). It is a credential, not
 * server data and not UI state, so it lives in none of the three layers.
 */
import { useSyncExternalStore } from "react";

export interface Session {
  userId: string;
  token: string;
  expiresAt: string;
}

const KEY = "lectern.session";
const listeners = new Set<() => void>();
let cachedRaw: string | null = null;
let cached: Session | null = null;

function read(): Session | null {
  const raw = localStorage.getItem(KEY);
  if (raw === cachedRaw) return cached;
  cachedRaw = raw;
  try {
    const parsed = raw ? (JSON.parse(raw) as Session) : null;
    cached = parsed && Date.parse(parsed.expiresAt) > Date.now() ? parsed : null;
  } catch {
    cached = null;
  }
  return cached;
}

function notify() {
  for (const listener of [...listeners]) listener();
}

window.addEventListener("storage", (event) => {
  if (event.key === KEY) notify();
});

export const session = {
  current: read,
  token: (): string | null => read()?.token ?? null,
  signIn(value: Session) {
    localStorage.setItem(KEY, JSON.stringify(value));
    notify();
  },
  signOut() {
    localStorage.removeItem(KEY);
    notify();
  },
  subscribe(listener: () => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

export function useSession(): Session | null {
  return useSyncExternalStore(session.subscribe, session.current);
}
