/** A plain SVG bar chart: one bar per number, scaled to the largest. */
export interface Bar {
  label: string;
  value: number;
}

export function BarChart({ bars }: { bars: Bar[] }) {
  if (bars.length === 0) return <p className="muted">No data in this range yet.</p>;
  const max = Math.max(...bars.map((b) => Math.abs(b.value)), 1);
  const rowHeight = 22;
  const labelWidth = 180;
  const width = 460;
  return (
    <svg
      className="chart"
      role="img"
      aria-label="bar chart"
      width={width}
      height={bars.length * rowHeight + 4}
      viewBox={`0 0 ${width} ${bars.length * rowHeight + 4}`}
    >
      {bars.map((bar, i) => {
        const length = (Math.abs(bar.value) / max) * (width - labelWidth - 70);
        const y = i * rowHeight + 2;
        return (
          <g key={`${bar.label}-${i}`}>
            <text x={0} y={y + 15} fontSize={12}>
              {bar.label.length > 26 ? `${bar.label.slice(0, 25)}…` : bar.label}
            </text>
            <rect x={labelWidth} y={y + 3} width={Math.max(length, 1)} height={rowHeight - 6} rx={2} />
            <text x={labelWidth + length + 6} y={y + 15} fontSize={12}>
              {Number.isInteger(bar.value) ? bar.value : bar.value.toFixed(2)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
