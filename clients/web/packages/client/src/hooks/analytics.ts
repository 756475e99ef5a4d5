/**
 * Analytics dashboards: one query (and one cache key) per domain, five minutes stale, fetched in
 * parallel by whoever renders several. Combining domains happens only when drawing.
 */
import { useMutation, useQuery } from "@tanstack/react-query";

import type { ActionInput } from "../actions.ts";
import { ANALYTICS_STALE_TIME_MS, type AnalyticsRange, analyticsKeys, type DashboardName } from "../keys.ts";
import { useLecternClient } from "./context.tsx";

export function useAnalyticsDashboard(dashboard: DashboardName, range: AnalyticsRange) {
  const client = useLecternClient();
  return useQuery({
    queryKey: analyticsKeys.dashboard(dashboard, range),
    queryFn: ({ signal }) =>
      client.action(
        "getAnalyticsDashboard",
        { dashboard, from: range.from, to: range.to, ...(range.courseId ? { courseId: range.courseId } : {}) },
        { signal },
      ),
    staleTime: ANALYTICS_STALE_TIME_MS,
  });
}

export function useRecordEngagement() {
  const client = useLecternClient();
  return useMutation({
    mutationFn: (input: ActionInput<"recordEngagement">) => client.action("recordEngagement", input),
  });
}
