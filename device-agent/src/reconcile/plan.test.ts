import { describe, expect, it } from 'vitest';
import { aContainer, aRevision, digestOf } from '../update/testing/builders.js';
import { instanceName } from './instance.js';
import { plan } from './plan.js';
import type { Executors, Step } from './steps.js';

const summary = (steps: Step[]) =>
  steps.map((s) => (s.action === 'wait-goals' ? `wait-goals ${s.group}` : `${s.action} ${s.container}`));

const web1 = aContainer();
const web2 = aContainer({ rootfs: { digest: digestOf('c'), size: 10 } });
const net = aContainer({ group: 'platform', rootfs: { digest: digestOf('d'), size: 10 } });
const opts = { revision: 'r2' };

describe('plan', () => {
  it('starts everything of a first revision, platform group first, each group waiting for its goals', () => {
    const steps = plan(null, aRevision({ containers: { web: web1, net } }), opts);
    expect(summary(steps)).toEqual([
      'create net',
      'create web',
      'start net',
      'wait-goals platform',
      'start web',
      'wait-goals app',
    ]);
  });

  it('leaves a container whose spec did not change untouched', () => {
    const cur = aRevision({ containers: { web: web1, net } });
    const next = aRevision({ release: '2', containers: { web: web1, net } });
    expect(plan(cur, next, opts)).toEqual([]);
  });

  it.each([
    ['rootfs digest', aContainer({ rootfs: { digest: digestOf('e'), size: 1 } })],
    ['config var', aContainer({ config: { MODE: 'fast' } })],
    ['env', aContainer({ start: { entrypoint: ['/bin/httpd'], env: { A: '1' } } })],
    ['memory limit', aContainer({ resources: { memoryBytes: '64M' } })],
  ])(
    'replaces a container whose %s changed: new defined first, then stop old, start new, remove old (default strategy)',
    (_what, changed) => {
      const steps = plan(
        aRevision({ containers: { web: web1, net } }),
        aRevision({ containers: { web: changed, net } }),
        opts,
      );
      // Only stop + start are in the outage: the definition is written while the old one serves.
      expect(summary(steps)).toEqual(['create web', 'stop web', 'start web', 'wait-goals app', 'remove web']);
      expect(steps[0]).toMatchObject({ instance: instanceName('web', changed), revision: 'r2' });
      expect(steps[1]).toMatchObject({ instance: instanceName('web', web1) });
      expect(steps[2]).toMatchObject({ instance: instanceName('web', changed) });
      expect(steps[4]).toMatchObject({ instance: instanceName('web', web1) });
    },
  );

  it('stops apps before the platform and starts the platform before apps', () => {
    const net2 = aContainer({ group: 'platform', rootfs: { digest: digestOf('f'), size: 1 } });
    const steps = plan(
      aRevision({ containers: { web: web1, net } }),
      aRevision({ containers: { web: web2, net: net2 } }),
      opts,
    );
    expect(summary(steps)).toEqual([
      'create net',
      'create web',
      'stop web',
      'stop net',
      'start net',
      'wait-goals platform',
      'start web',
      'wait-goals app',
      'remove web',
      'remove net',
    ]);
  });

  it('hand-over starts the new instance and waits for its goal before stopping the old one', () => {
    const steps = plan(aRevision({ containers: { web: web1 } }), aRevision({ containers: { web: web2 } }), {
      ...opts,
      strategy: 'hand-over',
    });
    expect(summary(steps)).toEqual(['create web', 'start web', 'wait-goals app', 'stop web', 'remove web']);
  });

  it('hand-over falls back to stop-start when the new instance does not fit in spare memory', () => {
    const big = aContainer({
      rootfs: { digest: digestOf('c'), size: 1 },
      resources: { memoryBytes: '512M' },
    });
    const unbounded = aContainer({ rootfs: { digest: digestOf('c'), size: 1 } });
    const cur = aRevision({ containers: { web: web1 } });
    const o = { ...opts, strategy: 'hand-over' as const, spareMemoryBytes: 256 * 1024 * 1024 };
    // Stop-start: the old instance stops before the new one starts.
    expect(summary(plan(cur, aRevision({ containers: { web: big } }), o))[1]).toBe('stop web');
    expect(summary(plan(cur, aRevision({ containers: { web: unbounded } }), o))[1]).toBe('stop web');
    const small = aContainer({
      rootfs: { digest: digestOf('c'), size: 1 },
      resources: { memoryBytes: '64M' },
    });
    expect(summary(plan(cur, aRevision({ containers: { web: small } }), o))[1]).toBe('start web');
  });

  describe('published ports', () => {
    const ports = [{ host: 8080, container: 80, protocol: 'tcp' as const }];
    const p1 = aContainer({ network: 'bridge', ports });
    const p2 = aContainer({ network: 'bridge', ports, rootfs: { digest: digestOf('e'), size: 1 } });
    const obs = (spec: typeof p1, running: boolean, published: string[]) => ({
      container: 'web',
      instance: instanceName('web', spec),
      group: 'app' as const,
      running,
      stopTimeoutMs: 1000,
      published,
    });

    it('stop-start publishes the new instance right after its start; the stop does not drain', () => {
      const steps = plan(
        aRevision({ containers: { web: p1 } }),
        aRevision({ containers: { web: p2 } }),
        opts,
      );
      expect(summary(steps)).toEqual([
        'create web',
        'stop web',
        'start web',
        'publish web',
        'wait-goals app',
        'remove web',
      ]);
      expect(steps[3]).toMatchObject({ instance: instanceName('web', p2), ports });
      expect(steps[1]).not.toHaveProperty('drain');
    });

    it('hand-over switches the ports once the new instance reached its goal, then drains and stops the old', () => {
      const steps = plan(aRevision({ containers: { web: p1 } }), aRevision({ containers: { web: p2 } }), {
        ...opts,
        strategy: 'hand-over',
      });
      expect(summary(steps)).toEqual([
        'create web',
        'start web',
        'wait-goals app',
        'publish web',
        'stop web',
        'remove web',
      ]);
      expect(steps[3]).toMatchObject({ instance: instanceName('web', p2) });
      expect(steps[4]).toMatchObject({ instance: instanceName('web', p1), drain: true });
    });

    it('gives a running instance its ports back when they point elsewhere (crash after a switch), before stopping the other', () => {
      const observed = [obs(p1, true, []), obs(p2, true, ['8080/tcp'])];
      const steps = plan(null, aRevision({ containers: { web: p1 } }), { revision: 'r1', observed });
      expect(summary(steps)).toEqual(['publish web', 'stop web', 'remove web']);
      expect(steps[0]).toMatchObject({ instance: instanceName('web', p1) });
      expect(steps[1]).toMatchObject({ instance: instanceName('web', p2) });
    });

    it('plans nothing for a running instance that holds its ports', () => {
      const observed = [obs(p1, true, ['8080/tcp'])];
      expect(plan(null, aRevision({ containers: { web: p1 } }), { revision: 'r1', observed })).toEqual([]);
      // Unknown (no publisher observed): taken as right, nothing planned either.
      const unknown = [{ ...obs(p1, true, []), published: undefined }];
      expect(
        plan(null, aRevision({ containers: { web: p1 } }), { revision: 'r1', observed: unknown }),
      ).toEqual([]);
    });
  });

  it('keepOld stops replaced instances but keeps their definitions for a fast rollback', () => {
    const steps = plan(aRevision({ containers: { web: web1 } }), aRevision({ containers: { web: web2 } }), {
      ...opts,
      keepOld: true,
    });
    expect(summary(steps)).toEqual(['create web', 'stop web', 'start web', 'wait-goals app']);
  });

  it('prepares volumes before creating a container that has them', () => {
    const withVol = aContainer({ volumes: [{ name: 'data', path: '/data', persistence: 'permanent' }] });
    const steps = plan(null, aRevision({ containers: { web: withVol } }), opts);
    expect(summary(steps).slice(0, 2)).toEqual(['prepare-volumes web', 'create web']);
    expect(steps[0]).toMatchObject({ revision: 'r2', volumes: [{ name: 'data', persistence: 'permanent' }] });
  });

  it('removes containers the target no longer has', () => {
    const steps = plan(
      aRevision({ containers: { web: web1, net } }),
      aRevision({ containers: { net } }),
      opts,
    );
    expect(summary(steps)).toEqual(['stop web', 'remove web']);
  });

  it('converges from an observed half-applied state (crash mid-install) back to the old revision', () => {
    const old = aRevision({ containers: { web: web1, net } });
    // The crash left: old web stopped (kept), new web created and running, net untouched.
    const observed = [
      {
        container: 'web',
        instance: instanceName('web', web1),
        group: 'app' as const,
        running: false,
        stopTimeoutMs: 10_000,
      },
      {
        container: 'web',
        instance: instanceName('web', web2),
        group: 'app' as const,
        running: true,
        stopTimeoutMs: 10_000,
      },
      {
        container: 'net',
        instance: instanceName('net', net),
        group: 'platform' as const,
        running: true,
        stopTimeoutMs: 10_000,
      },
    ];
    const steps = plan(null, old, { revision: 'r1', observed });
    expect(summary(steps)).toEqual(['create web', 'stop web', 'start web', 'wait-goals app', 'remove web']);
    expect(steps[0]).toMatchObject({ instance: instanceName('web', web1) });
    expect(steps[1]).toMatchObject({ instance: instanceName('web', web2) });
    expect(steps[4]).toMatchObject({ instance: instanceName('web', web2) });
  });

  it('removes leftover stopped instances nobody wants (orphans after a crash)', () => {
    const observed = [
      {
        container: 'old',
        instance: 'old-000000000000',
        group: 'app' as const,
        running: false,
        stopTimeoutMs: 1,
      },
    ];
    expect(summary(plan(null, aRevision({ containers: {} }), { revision: 'r', observed }))).toEqual([
      'remove old',
    ]);
  });

  it('an executor map without every action does not compile', () => {
    const noop = async () => {};
    // @ts-expect-error 'wait-goals' is missing
    const partial: Executors = {
      stop: noop,
      remove: noop,
      'prepare-volumes': noop,
      create: noop,
      start: noop,
      publish: noop,
    };
    expect(Object.keys(partial)).toHaveLength(6);
  });
});

describe('instanceName', () => {
  it('fits LXC names even for the longest container names, and stays unique', () => {
    const long = 'a'.repeat(63);
    const other = `${'a'.repeat(50)}b${'a'.repeat(12)}`;
    const a = instanceName(long, web1);
    expect(a).toMatch(/^[a-z0-9][a-z0-9-]{0,62}$/);
    expect(instanceName(other, web1)).not.toBe(a);
    expect(instanceName('web', web1)).toBe(instanceName('web', aContainer()));
    expect(instanceName('web', web1)).not.toBe(instanceName('web', web2));
  });
});
