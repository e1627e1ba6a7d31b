import { Injectable } from '@nestjs/common';

/** Prometheus label set; values are escaped on output. */
export type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',');
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

interface Metric {
  readonly name: string;
  render(): string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export class Counter implements Metric {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new RangeError(`counter ${this.name} cannot decrease`);
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }

  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }

  /**
   * `inc` for one fixed label set, its key built once: hot paths (ingest counts every device
   * message) otherwise sort and escape the labels on every call.
   */
  bind(labels: Labels = {}): (by?: number) => void {
    const k = labelKey(labels);
    return (by = 1) => {
      if (by < 0) throw new RangeError(`counter ${this.name} cannot decrease`);
      this.#values.set(k, (this.#values.get(k) ?? 0) + by);
    };
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.#values) out.push(`${this.name}${k ? `{${k}}` : ''} ${fmt(v)}`);
    return out;
  }
}

export class Gauge implements Metric {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect?: () => number | Array<[Labels, number]>,
  ) {}

  set(value: number, labels: Labels = {}): void {
    this.#values.set(labelKey(labels), value);
  }

  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }

  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    if (this.collect) {
      const v = this.collect();
      if (typeof v === 'number') this.#values.set('', v);
      else for (const [labels, value] of v) this.#values.set(labelKey(labels), value);
    }
    for (const [k, v] of this.#values) out.push(`${this.name}${k ? `{${k}}` : ''} ${fmt(v)}`);
    return out;
  }
}

export class Histogram implements Metric {
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  readonly buckets: number[];
  constructor(
    readonly name: string,
    readonly help: string,
    buckets: number[],
  ) {
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(value: number, labels: Labels = {}): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= (this.buckets[i] ?? Infinity)) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count++;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.#series) {
      const sep = k ? `${k},` : '';
      this.buckets.forEach((b, i) =>
        out.push(`${this.name}_bucket{${sep}le="${fmt(b)}"} ${s.counts[i] ?? 0}`),
      );
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${fmt(s.sum)}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

/**
 * A Prometheus registry written by hand (text exposition format 0.0.4). One per hub instance,
 * from Nest DI: tests build as many apps as they like without shared counters. Modules register
 * their metrics in their constructors; registering a name twice returns the same metric when
 * the kind matches.
 */
@Injectable()
export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();

  counter(name: string, help: string): Counter {
    return this.#register(name, () => new Counter(name, help), Counter);
  }

  gauge(name: string, help: string, collect?: () => number | Array<[Labels, number]>): Gauge {
    return this.#register(name, () => new Gauge(name, help, collect), Gauge);
  }

  histogram(
    name: string,
    help: string,
    buckets: number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ): Histogram {
    return this.#register(name, () => new Histogram(name, help, buckets), Histogram);
  }

  render(): string {
    const lines: string[] = [];
    for (const m of this.#metrics.values()) lines.push(...m.render());
    return lines.join('\n') + '\n';
  }

  #register<T extends Metric>(name: string, make: () => T, kind: new (...args: never[]) => T): T {
    if (!NAME.test(name)) throw new Error(`invalid metric name "${name}"`);
    const existing = this.#metrics.get(name);
    if (existing) {
      if (!(existing instanceof kind))
        throw new Error(`metric "${name}" is already registered as another kind`);
      return existing;
    }
    const m = make();
    this.#metrics.set(name, m);
    return m;
  }
}
