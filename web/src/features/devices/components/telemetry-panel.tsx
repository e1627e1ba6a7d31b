import type { TelemetryPoint } from '@fleet/protocol/browser';
import { useId, useMemo, useState } from 'react';
import { Empty, ErrorBox, Loading } from '../../../components/feedback.js';
import { TimeChart, type ChartSeries } from '../../../components/time-chart.js';
import { formatBytes } from '../../../lib/format.js';
import { TELEMETRY_RANGES, useTelemetry } from '../api/get-telemetry.js';

const pct = (v: number) => `${v.toFixed(0)}%`;
const temp = (v: number) => `${v.toFixed(1)} °C`;

/** Splits the hub's bucketed points into aligned chart columns (x in unix seconds). */
export function toColumns(points: TelemetryPoint[]) {
  return {
    x: points.map((p) => Math.floor(new Date(p.at).getTime() / 1000)),
    cpu: [{ label: 'CPU', values: points.map((p) => p.cpuPercent) }],
    memory: [
      { label: 'used', values: points.map((p) => p.memUsedBytes) },
      { label: 'total', values: points.map((p) => p.memTotalBytes) },
    ],
    disk: [
      { label: 'used', values: points.map((p) => p.diskUsedBytes) },
      { label: 'total', values: points.map((p) => p.diskTotalBytes) },
    ],
    temperature: [{ label: 'temperature', values: points.map((p) => p.temperatureC) }],
  } satisfies Record<string, unknown>;
}

export function TelemetryPanel({ deviceId }: { deviceId: string }) {
  const rangeId = useId();
  const [range, setRange] = useState<number>(TELEMETRY_RANGES[0].seconds);
  const telemetry = useTelemetry(deviceId, range);
  const cols = useMemo(() => toColumns(telemetry.data ?? []), [telemetry.data]);

  return (
    <section className="card" aria-labelledby="telemetry-title">
      <div className="card-head">
        <h2 id="telemetry-title">Telemetry</h2>
        <label htmlFor={rangeId}>Range</label>
        <select id={rangeId} value={range} onChange={(e) => setRange(Number(e.target.value))}>
          {TELEMETRY_RANGES.map((r) => (
            <option key={r.seconds} value={r.seconds}>
              last {r.label}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="btn small"
          onClick={() => void telemetry.refetch()}
          disabled={telemetry.isFetching}
        >
          Refresh
        </button>
      </div>
      {telemetry.isPending ? (
        <Loading label="Loading telemetry" />
      ) : telemetry.isError ? (
        <ErrorBox error={telemetry.error} />
      ) : cols.x.length === 0 ? (
        <Empty>No telemetry in this range.</Empty>
      ) : (
        <div className="chart-grid">
          <TimeChart
            title="CPU"
            x={cols.x}
            series={cols.cpu as ChartSeries[]}
            format={pct}
            yRange={[0, 100]}
          />
          <TimeChart title="Memory" x={cols.x} series={cols.memory as ChartSeries[]} format={formatBytes} />
          <TimeChart title="Disk" x={cols.x} series={cols.disk as ChartSeries[]} format={formatBytes} />
          <TimeChart
            title="Temperature"
            x={cols.x}
            series={cols.temperature as ChartSeries[]}
            format={temp}
          />
        </div>
      )}
    </section>
  );
}
