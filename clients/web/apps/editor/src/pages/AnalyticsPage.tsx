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

/** Numbers worth a bar: top-level numeric fields, and rows of lists (first text field as label). */
export function barsOf(domain: Record<string, unknown>): Bar[] {
  const bars: Bar[] = [];
  for (const [key, value] of Object.entries(domain)) {
    if (typeof value === "number" && Number.isFinite(value)) bars.push({ label: key, value });
    else if (Array.isArray(value)) {
      for (const row of value.slice(0, 12)) {
        if (typeof row !== "object" || row === null) continue;
        const entries = Object.entries(row as Record<string, unknown>);
        const label = entries.find(([, v]) => typeof v === "string")?.[1] as string | undefined;
        const number = entries.find(([, v]) => typeof v === "number");
        if (number) bars.push({ label: `${key}: ${label ?? number[0]}`, value: number[1] as number });
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
            <BarChart bars={barsOf(values)} />
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
