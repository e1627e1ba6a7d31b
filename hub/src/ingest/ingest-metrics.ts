import type { UplinkKind } from '@fleet/protocol';

/** Why a message was dropped before reaching a sink. */
export type InvalidReason = 'topic' | 'kind' | 'payload' | 'empty';

export type IngestCounter = 'received' | 'invalid' | 'duplicate' | 'sinkErrors' | 'rows' | 'dropped' | 'writeFailures';

interface Counter {
  name: string;
  help: string;
  values: Map<string, number>;
}

/**
 * Ingest's counters, in Prometheus terms. Plain numbers: the metrics module renders them with
 * `render()` next to its own.
 */
export class IngestMetrics {
  readonly #counters: Record<IngestCounter, Counter> = {
    received: this.#counter('fleet_ingest_messages_total', 'Device messages received, by kind.'),
    invalid: this.#counter('fleet_ingest_invalid_messages_total', 'Device messages dropped as invalid, by kind and reason.'),
    duplicate: this.#counter('fleet_ingest_duplicate_messages_total', 'Device messages dropped as redeliveries of an id already seen.'),
    sinkErrors: this.#counter('fleet_ingest_sink_errors_total', 'Validated messages the store refused (logged and dropped), by kind.'),
    rows: this.#counter('fleet_ingest_rows_written_total', 'Telemetry samples and log lines written, by kind.'),
    dropped: this.#counter('fleet_ingest_rows_dropped_total', 'Telemetry samples and log lines dropped because the queue was full, by kind.'),
    writeFailures: this.#counter('fleet_ingest_batch_write_failures_total', 'Batch writes that failed and were retried, by kind.'),
  };
  /** Read at render time: current queue depths. */
  readonly #gauges = new Map<string, () => number>();

  #counter(name: string, help: string): Counter {
    return { name, help, values: new Map() };
  }

  #inc(counter: Counter, labels: string, by = 1): void {
    counter.values.set(labels, (counter.values.get(labels) ?? 0) + by);
  }

  received(kind: UplinkKind): void {
    this.#inc(this.#counters.received, `kind="${kind}"`);
  }
  invalid(kind: UplinkKind | 'unknown', reason: InvalidReason): void {
    this.#inc(this.#counters.invalid, `kind="${kind}",reason="${reason}"`);
  }
  duplicate(kind: UplinkKind): void {
    this.#inc(this.#counters.duplicate, `kind="${kind}"`);
  }
  sinkError(kind: UplinkKind): void {
    this.#inc(this.#counters.sinkErrors, `kind="${kind}"`);
  }
  rowsWritten(kind: 'telemetry' | 'logs', count: number): void {
    this.#inc(this.#counters.rows, `kind="${kind}"`, count);
  }
  rowsDropped(kind: 'telemetry' | 'logs', count: number): void {
    this.#inc(this.#counters.dropped, `kind="${kind}"`, count);
  }
  writeFailure(kind: 'telemetry' | 'logs'): void {
    this.#inc(this.#counters.writeFailures, `kind="${kind}"`);
  }

  queueDepth(kind: 'telemetry' | 'logs', read: () => number): void {
    this.#gauges.set(kind, read);
  }

  /** The value of one counter for one label set, e.g. `('invalid', 'kind="report",reason="payload"')`. */
  value(counter: IngestCounter, labels: string): number {
    return this.#counters[counter].values.get(labels) ?? 0;
  }

  /** Prometheus text exposition (version 0.0.4) of every ingest metric. */
  render(): string {
    const lines: string[] = [];
    for (const c of Object.values(this.#counters)) {
      lines.push(`# HELP ${c.name} ${c.help}`, `# TYPE ${c.name} counter`);
      for (const [labels, v] of c.values) lines.push(`${c.name}{${labels}} ${v}`);
    }
    lines.push('# HELP fleet_ingest_queue_depth Rows waiting to be written, by kind.', '# TYPE fleet_ingest_queue_depth gauge');
    for (const [kind, read] of this.#gauges) lines.push(`fleet_ingest_queue_depth{kind="${kind}"} ${read()}`);
    return `${lines.join('\n')}\n`;
  }
}
