import { UPLINK_KINDS, type UplinkKind } from '@fleet/protocol';
import type { Counter, MetricsRegistry } from '../metrics/metrics.registry.js';

/** Why a message was dropped before reaching a sink. */
export type InvalidReason = 'topic' | 'kind' | 'payload' | 'empty';
export type BatchKind = 'telemetry' | 'logs';

/** Ingest's counters, registered in the hub's MetricsRegistry (served at /metrics). */
export class IngestMetrics {
  readonly received: Counter;
  readonly invalidMessages: Counter;
  readonly duplicates: Counter;
  readonly sinkErrors: Counter;
  readonly rowsWritten: Counter;
  readonly rowsDropped: Counter;
  readonly writeFailures: Counter;
  readonly coalesced: Counter;
  readonly #registry: MetricsRegistry;
  /** `received` bound once per kind: it counts every device message (see Counter.bind). */
  readonly #receivedByKind: ReadonlyMap<UplinkKind, () => void>;

  constructor(registry: MetricsRegistry) {
    this.#registry = registry;
    this.received = registry.counter('fleet_ingest_messages_total', 'Device messages received, by kind.');
    this.invalidMessages = registry.counter(
      'fleet_ingest_invalid_messages_total',
      'Device messages dropped as invalid, by kind and reason.',
    );
    this.duplicates = registry.counter(
      'fleet_ingest_duplicate_messages_total',
      'Device messages dropped as redeliveries of an id already seen.',
    );
    this.sinkErrors = registry.counter(
      'fleet_ingest_sink_errors_total',
      'Validated messages the store kept refusing (logged and dropped), by kind.',
    );
    this.rowsWritten = registry.counter(
      'fleet_ingest_rows_written_total',
      'Telemetry samples and log lines written, by kind.',
    );
    this.rowsDropped = registry.counter(
      'fleet_ingest_rows_dropped_total',
      'Telemetry samples and log lines dropped because the queue was full, by kind.',
    );
    this.writeFailures = registry.counter(
      'fleet_ingest_batch_write_failures_total',
      'Batch writes that failed and were retried, by kind.',
    );
    this.coalesced = registry.counter(
      'fleet_ingest_state_coalesced_total',
      'Presence and reports replaced by a later one of the same device before they were stored, by kind.',
    );
    this.#receivedByKind = new Map(UPLINK_KINDS.map((kind) => [kind, this.received.bind({ kind })]));
  }

  /** Counts one received message of `kind` (fleet_ingest_messages_total{kind}). */
  countReceived(kind: UplinkKind): void {
    const inc = this.#receivedByKind.get(kind);
    if (inc !== undefined) inc();
    else this.received.inc({ kind });
  }

  invalid(kind: UplinkKind | 'unknown', reason: InvalidReason): void {
    this.invalidMessages.inc({ kind, reason });
  }

  /** Registers a gauge read at scrape time (queue depths). */
  queueDepth(read: () => Array<[{ kind: string }, number]>): void {
    this.#registry.gauge(
      'fleet_ingest_queue_depth',
      'Rows (telemetry, logs) and state messages (state) waiting to be written, by kind.',
      read,
    );
  }
}
