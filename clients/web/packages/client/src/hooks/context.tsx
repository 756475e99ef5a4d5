/**
 * `LecternProvider` hands the action client and the tab's realtime client to the hooks, and
 * connects the Observer to the TanStack cache for as long as it is mounted. Put it inside
 * `QueryClientProvider`.
 */
import { useQueryClient } from "@tanstack/react-query";
import { createContext, type ReactNode, useContext, useEffect, useSyncExternalStore } from "react";

import type { LecternClient } from "../actions.ts";
import { connectObserverToQueryClient } from "../realtime/bridge.ts";
import type { RealtimeClient, RealtimeStatus } from "../realtime/client.ts";

interface LecternContextValue {
  client: LecternClient;
  realtime: RealtimeClient | null;
}

const LecternContext = createContext<LecternContextValue | null>(null);

export function LecternProvider(props: { client: LecternClient; realtime?: RealtimeClient | null; children: ReactNode }) {
  const queryClient = useQueryClient();
  const realtime = props.realtime ?? null;
  // Subscribing to an outside system (the observer, the tabs' channel) is what effects are for;
  // nothing here copies state between layers.
  useEffect(() => {
    if (!realtime) return undefined;
    const disconnect = connectObserverToQueryClient(realtime.observer, queryClient);
    realtime.start();
    return () => {
      disconnect();
    };
  }, [realtime, queryClient]);
  return <LecternContext.Provider value={{ client: props.client, realtime }}>{props.children}</LecternContext.Provider>;
}

function useLecternContext(): LecternContextValue {
  const value = useContext(LecternContext);
  if (!value) throw new Error("@lectern/client hooks need a <LecternProvider>");
  return value;
}

export function useLecternClient(): LecternClient {
  return useLecternContext().client;
}

export function useRealtimeClient(): RealtimeClient | null {
  return useLecternContext().realtime;
}

const idle = () => "idle" as const;
const noSubscribe = () => () => undefined;

/** `open` while this browser's socket (held by whichever tab leads) is connected. */
export function useRealtimeStatus(): RealtimeStatus {
  const realtime = useRealtimeClient();
  return useSyncExternalStore(realtime?.subscribe ?? noSubscribe, realtime?.getStatus ?? idle, idle);
}

/** Receive the course's messages in this tab while the calling component is mounted. */
export function useCourseChannel(courseId: string | null | undefined): void {
  const realtime = useRealtimeClient();
  useEffect(() => {
    if (!realtime || !courseId) return undefined;
    return realtime.watchCourse(courseId);
  }, [realtime, courseId]);
}
