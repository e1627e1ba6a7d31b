import { useEffect, useId, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useTheme } from '../app/theme-context.js';

export interface ChartSeries {
  label: string;
  /** One value per x; null leaves a gap (no samples in that bucket). */
  values: Array<number | null>;
}

export interface TimeChartProps {
  title: string;
  /** Unix seconds. */
  x: number[];
  series: ChartSeries[];
  format: (v: number) => string;
  height?: number;
  /** Fixed y range (percentages); otherwise uPlot fits the data. */
  yRange?: [number, number];
}

function canvasAvailable(): boolean {
  // jsdom (component tests) has no 2D canvas; there only the text summary renders.
  return typeof HTMLCanvasElement !== 'undefined' && !!document.createElement('canvas').getContext('2d');
}

function stats(values: Array<number | null>): {
  last: number | null;
  min: number | null;
  max: number | null;
} {
  let last: number | null = null;
  let min: number | null = null;
  let max: number | null = null;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    last = v;
    min = min === null ? v : Math.min(min, v);
    max = max === null ? v : Math.max(max, v);
  }
  return { last, min, max };
}

/**
 * A time-series line chart on uPlot (canvas, ~50 kB, fast with thousands of points). The
 * caption states latest/min/max in text, so the figure means something without sight.
 */
export function TimeChart({ title, x, series, format, height = 180, yRange }: TimeChartProps) {
  const id = useId();
  const box = useRef<HTMLDivElement>(null);
  const { resolved } = useTheme();

  useEffect(() => {
    const el = box.current;
    if (!el || !canvasAvailable() || x.length === 0) return;
    const css = getComputedStyle(document.documentElement);
    const color = (i: number) => css.getPropertyValue(`--chart-${(i % 4) + 1}`).trim() || '#3b82f6';
    const axisColor = css.getPropertyValue('--text-muted').trim() || '#888';
    const gridColor = css.getPropertyValue('--border').trim() || '#ddd';
    const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: series.length > 1 },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, ...(yRange ? { y: { range: yRange } } : {}) },
      axes: [axis, { ...axis, size: 70, values: (_u, ticks) => ticks.map((t) => format(t)) }],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: color(i),
          width: 2,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)),
        })),
      ],
    };
    const plot = new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const ro =
      typeof ResizeObserver === 'undefined'
        ? null
        : new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      plot.destroy();
    };
  }, [x, series, format, height, yRange, resolved]);

  return (
    <figure className="chart" aria-labelledby={id}>
      <figcaption id={id}>
        <strong>{title}</strong>
        {series.map((s) => {
          const st = stats(s.values);
          return (
            <span key={s.label} className="chart-stats">
              {series.length > 1 ? `${s.label}: ` : ''}
              {st.last === null
                ? 'no samples'
                : `latest ${format(st.last)}, min ${format(st.min ?? 0)}, max ${format(st.max ?? 0)}`}
            </span>
          );
        })}
      </figcaption>
      <div ref={box} className="chart-canvas" aria-hidden="true" />
    </figure>
  );
}
