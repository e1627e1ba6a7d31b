import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from './metrics.registry.js';

describe('MetricsRegistry', () => {
  it('renders counters, gauges and histograms in Prometheus text format', () => {
    const r = new MetricsRegistry();
    r.counter('fleet_things_total', 'Things.').inc({ kind: 'a"b' }, 2);
    r.gauge('fleet_level', 'Level.').set(3);
    const h = r.histogram('fleet_seconds', 'Latency.', [0.1, 1]);
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    const text = r.render();
    expect(text).toContain('# TYPE fleet_things_total counter\nfleet_things_total{kind="a\\"b"} 2');
    expect(text).toContain('fleet_level 3');
    expect(text).toContain('fleet_seconds_bucket{le="0.1"} 1');
    expect(text).toContain('fleet_seconds_bucket{le="1"} 2');
    expect(text).toContain('fleet_seconds_bucket{le="+Inf"} 3');
    expect(text).toContain('fleet_seconds_count 3');
  });

  it('keeps registries independent and refuses a name reused for another kind', () => {
    const a = new MetricsRegistry();
    const b = new MetricsRegistry();
    a.counter('fleet_x_total', 'x').inc();
    expect(b.render()).not.toContain('fleet_x_total');
    expect(a.counter('fleet_x_total', 'x').get()).toBe(1);
    expect(() => a.gauge('fleet_x_total', 'x')).toThrow(/another kind/);
    expect(() => a.counter('bad name', 'x')).toThrow(/invalid metric name/);
    expect(() => a.counter('fleet_x_total', 'x').inc({}, -1)).toThrow(/cannot decrease/);
  });
});
