/**
 * The four dashboards, one query each (its own cache key, five minutes stale), fetched in parallel.
 * The time range is a form input; domains are combined only while drawing.
 */
import { type DashboardName, useAnalyticsDashboard } from "@lectern/client";
import { useMemo } from "react";
import { useForm } from "react-hook-form";

import { BarChart, type Bar } from "../components/BarChart.tsx";

const DASHBOARDS: Array<{ name: DashboardName; title: string }> = [
  { name: "storage", title: "Storage optimization" },
  { name: "content", title: "Content performance" },
  { name: "roi", title: "ROI" },
  { name: "capacity", title: "Capacity planning" },
];

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** The number in a value: a plain number, or money (`amountMinor`) and the like, one level deep. */
function numberOf(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "object" && value !== null) {
    const inner = Object.values(value as Record<string, unknown>).find((v) => typeof v === "number");
    return typeof inner === "number" ? inner : undefined;
  }
  return undefined;
}

/** Numbers worth a bar: top-level numeric fields, and rows of lists (first text field as label). */
export function barsOf(domain: object): Bar[] {
  const bars: Bar[] = [];
  for (const [key, value] of Object.entries(domain)) {
    const number = Array.isArray(value) ? undefined : numberOf(value);
    if (number !== undefined) bars.push({ label: key, value: number });
    else if (Array.isArray(value)) {
      for (const row of value.slice(0, 12)) {
        if (typeof row !== "object" || row === null) continue;
        const entries = Object.entries(row as Record<string, unknown>);
        const label = entries.find(([, v]) => typeof v === "string" && !/^\d{4}-\d\d-\d\dT/.test(v))?.[1] as string | undefined;
        const numeric = entries.map(([k, v]) => [k, numberOf(v)] as const).find(([, v]) => v !== undefined);
        if (numeric && numeric[1] !== undefined) bars.push({ label: `${key}: ${label ?? numeric[0]}`, value: numeric[1] });
      }
    }
  }
  return bars;
}

function Dashboard({ name, title, from, to }: { name: DashboardName; title: string; from: string; to: string }) {
  const range = useMemo(() => ({ from: `${from}T00:00:00Z`, to: `${to}T23:59:59Z` }), [from, to]);
  const dashboard = useAnalyticsDashboard(name, range);
  return (
    <article className="dashboard" data-testid={`dashboard-${name}`}>
      <h2>{title}</h2>
      {dashboard.isPending && <p>Loading…</p>}
      {dashboard.error && <p className="error">{dashboard.error.message}</p>}
      {dashboard.data &&
        Object.entries(dashboard.data.domains).map(([domain, values]) => (
          <div key={domain}>
            <h3>{domain}</h3>
            <BarChart bars={values ? barsOf(values) : []} />
          </div>
        ))}
    </article>
  );
}

export function AnalyticsPage() {
  const today = new Date();
  const form = useForm<{ from: string; to: string }>({
    defaultValues: { from: isoDay(new Date(today.getTime() - 30 * 86_400_000)), to: isoDay(today) },
  });
  const from = form.watch("from");
  const to = form.watch("to");
  return (
    <section>
      <h1>Analytics</h1>
      <form className="row">
        <label>
          From <input type="date" {...form.register("from")} />
        </label>
        <label>
          To <input type="date" {...form.register("to")} />
        </label>
      </form>
      <div className="dashboards">
        {DASHBOARDS.map((d) => (
          <Dashboard key={d.name} name={d.name} title={d.title} from={from} to={to} />
        ))}
      </div>
    </section>
  );
}
