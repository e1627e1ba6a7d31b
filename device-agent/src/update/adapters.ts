// Adapters from the engine's ports (ports.ts) to the agent's real parts: store/, runtime/,
// link/. main.ts composes them; the integration test uses them on real LXC.
import { statfs } from 'node:fs/promises';
import { HealthCheck, ReleaseManifest, type ContainerState, type ObjectRef, type ReasonCode, type VolumeSpec } from '@fleet/protocol';
import { z } from 'zod';
import { LABEL_CONTAINER, LABEL_GROUP, LABEL_REVISION, LABEL_SPEC_HASH, specHash, type Executors, type ObservedInstance } from '../reconcile/index.js';
import type { ContainerRuntime, VolumeSource } from '../runtime/container-runtime.js';
import type { ObjectStore as StoreObjects } from '../store/object-store.js';
import type { RevisionStore as StoreRevisionStore } from '../store/revision-store.js';
import type { VolumeStore } from '../store/volumes.js';
import type { Clock, Containers, Downloader, DurableFiles, InstanceHealth, ObjectStore, RevisionStore, StoredRevision } from './ports.js';
import { effectiveManifest } from './revision.js';

/** The store's object store as the engine's ObjectStore; free space from statfs(2). */
export function objectStorePort(store: StoreObjects, dataDir: string): ObjectStore {
  return {
    async missing(refs: readonly ObjectRef[]) {
      const out: ObjectRef[] = [];
      for (const r of refs) if (!(await store.has(r.digest))) out.push(r);
      return out;
    },
    pathOf: (digest) => store.pathOf(digest),
    async freeBytes() {
      const s = await statfs(dataDir);
      return s.bavail * s.bsize;
    },
  };
}

/** link/'s ObjectDownloader (structurally) as the engine's Downloader. */
export function downloaderPort(dl: {
  download(objects: readonly ObjectRef[], baseUrl: string, o: { signal?: AbortSignal; onProgress?: (p: { bytesDone: number; bytesTotal: number }) => void }): Promise<unknown>;
}): Downloader {
  return {
    async fetch(objects, baseUrl, opts) {
      await dl.download(objects, baseUrl, {
        signal: opts.signal,
        ...(opts.onProgress ? { onProgress: (p) => opts.onProgress?.(p.bytesDone, p.bytesTotal) } : {}),
      });
    },
  };
}

const StoredDoc = z.object({
  spec: z.literal('fleet-stored-revision@1'),
  id: z.string().min(1),
  n: z.number().int().positive(),
  release: ReleaseManifest,
  config: z.record(z.string(), z.record(z.string(), z.string())),
  configVersion: z.number().int().nonnegative(),
});

/**
 * Revisions in the store: the effective manifest (config merged) goes to store/'s
 * `revisions/<n>/manifest.json`, where GC and `revision` volumes find it by number; the signed
 * release and the config the engine needs go to `<id>.json` beside it in the engine's own
 * directory, with the number. Written store first: a crash in between leaves a numbered
 * revision nobody references, which GC drops.
 */
export class StoreRevisions implements RevisionStore {
  constructor(
    private readonly store: StoreRevisionStore,
    private readonly docs: DurableFiles,
  ) {}

  private async doc(id: string): Promise<z.infer<typeof StoredDoc> | null> {
    const bytes = await this.docs.read(`${id}.json`);
    if (bytes === null) return null;
    return StoredDoc.parse(JSON.parse(bytes.toString('utf8')));
  }

  async put(rev: StoredRevision): Promise<void> {
    if (await this.doc(rev.id)) return;
    const n = Math.max(0, ...(await this.store.list())) + 1;
    await this.store.write(n, effectiveManifest(rev));
    await this.docs.writeAtomic(`${rev.id}.json`, `${JSON.stringify({ spec: 'fleet-stored-revision@1', n, ...rev })}\n`);
  }

  async get(id: string): Promise<StoredRevision | null> {
    const d = await this.doc(id);
    return d ? { id: d.id, release: d.release, config: d.config, configVersion: d.configVersion } : null;
  }

  /** The store's revision number of an engine revision (for `revision` volumes and GC roots). */
  async numberOf(id: string): Promise<number> {
    const d = await this.doc(id);
    if (!d) throw new Error(`revision ${id} is not stored`);
    return d.n;
  }
}

const LABEL_STOP_TIMEOUT = 'fleet.stop-timeout-ms';
const LABEL_HEALTH = 'fleet.health';

export interface RuntimeContainersOptions {
  readonly runtime: ContainerRuntime;
  readonly objects: Pick<StoreObjects, 'pathOf'>;
  readonly volumes: VolumeStore;
  readonly revisionNumber: (id: string) => Promise<number>;
  readonly clock: Clock;
  /** How long `wait-goals` waits for a group (the health gate has its own timeout). */
  readonly goalTimeoutMs: number;
  readonly pollMs: number;
}

class GoalFailure extends Error {
  constructor(
    readonly reason: ReasonCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Containers on a ContainerRuntime, one instance per changed spec. Health is the runtime
 * state plus the spec's exec health check, run when sampled.
 *
 * Not here: restart policies. The supervisor owns them, and its API (run(desired) for a whole
 * set) has no per-instance create/start/stop/wait that a step plan could drive; until it does,
 * an instance that exits is reported `exited` and the health gate fails it, which is the safe
 * direction for an update (it rolls back).
 */
export class RuntimeContainers implements Containers {
  constructor(private readonly o: RuntimeContainersOptions) {}

  async observe(): Promise<ObservedInstance[]> {
    const list = await this.o.runtime.list();
    return list
      .filter((c) => c.labels[LABEL_CONTAINER] !== undefined)
      .map((c) => ({
        container: c.labels[LABEL_CONTAINER] as string,
        instance: c.name,
        group: c.labels[LABEL_GROUP] === 'platform' ? ('platform' as const) : ('app' as const),
        running: c.state === 'running' || c.state === 'starting' || c.state === 'frozen',
        stopTimeoutMs: Number(c.labels[LABEL_STOP_TIMEOUT] ?? 10_000),
      }));
  }

  async health(names: readonly string[]): Promise<InstanceHealth[]> {
    const out: InstanceHealth[] = [];
    for (const name of names) out.push(await this.healthOf(name));
    return out;
  }

  private async healthOf(name: string): Promise<InstanceHealth> {
    const st = await this.o.runtime.state(name);
    const map: Record<typeof st.state, ContainerState> = {
      stopped: 'exited',
      absent: 'exited',
      starting: 'starting',
      running: 'running',
      stopping: 'stopping',
      frozen: 'frozen',
    };
    let state = map[st.state];
    let message: string | undefined = st.lastExit ? `exit code ${st.lastExit.code}` : undefined;
    const hc = st.labels[LABEL_HEALTH];
    if (state === 'running' && hc) {
      const check = HealthCheck.parse(JSON.parse(hc));
      const r = await this.o.runtime.exec(name, check.exec, { timeoutMs: check.timeoutMs }).catch((e: Error) => ({ exitCode: null, stderr: e.message, timedOut: false }));
      state = r.exitCode === 0 ? 'ready' : 'unhealthy';
      if (r.exitCode !== 0) message = `health check ${r.timedOut ? 'timed out' : `exited ${r.exitCode ?? '?'}`}`;
    }
    return { instance: name, state, restarts: 0, ...(message ? { message } : {}) };
  }

  private async volumeSources(container: string, revision: string, volumes: readonly VolumeSpec[]): Promise<Record<string, VolumeSource>> {
    const n = await this.o.revisionNumber(revision);
    const out: Record<string, VolumeSource> = {};
    for (const v of volumes) {
      const m = await this.o.volumes.prepare(container, v, n);
      out[v.name] = m.kind === 'bind' ? { kind: 'bind', hostPath: m.source } : { kind: 'tmpfs', ...(v.sizeBytes !== undefined ? { sizeBytes: v.sizeBytes } : {}) };
    }
    return out;
  }

  readonly executors: Executors = {
    stop: async (s) => {
      await this.o.runtime.stop(s.instance, { timeoutMs: s.timeoutMs });
    },
    remove: async (s) => {
      await this.o.runtime.remove(s.instance);
    },
    'prepare-volumes': async (s) => {
      await this.volumeSources(s.container, s.revision, s.volumes);
    },
    create: async (s, signal) => {
      const volumes = await this.volumeSources(s.container, s.revision, s.spec.volumes);
      await this.o.runtime.create(
        {
          name: s.instance,
          spec: s.spec,
          rootfs: { kind: 'squashfs', path: this.o.objects.pathOf(s.spec.rootfs.digest) },
          volumes,
          labels: {
            [LABEL_CONTAINER]: s.container,
            [LABEL_GROUP]: s.spec.group,
            [LABEL_REVISION]: s.revision,
            [LABEL_SPEC_HASH]: specHash(s.spec),
            [LABEL_STOP_TIMEOUT]: String(s.spec.start.stopTimeoutMs),
            ...(s.spec.health ? { [LABEL_HEALTH]: JSON.stringify(s.spec.health) } : {}),
          },
        },
        signal,
      );
    },
    start: async (s, signal) => {
      await this.o.runtime.start(s.instance, signal);
    },
    'wait-goals': async (s, signal) => {
      const since = this.o.clock.now();
      for (;;) {
        const health = await this.health(s.instances.map((i) => i.instance));
        const pending = s.instances.filter((i) => {
          const h = health.find((x) => x.instance === i.instance);
          return i.goal === 'ready' ? h?.state !== 'ready' : !(h && ['running', 'ready', 'unhealthy'].includes(h.state));
        });
        const dead = health.find((h) => h.state === 'exited');
        if (dead) throw new GoalFailure('container-start-failed', `${dead.instance} exited before its status goal${dead.message ? ` (${dead.message})` : ''}`);
        if (pending.length === 0) return;
        if (this.o.clock.now() - since >= this.o.goalTimeoutMs) {
          const first = pending[0];
          const h = health.find((x) => x.instance === first?.instance);
          throw new GoalFailure(h?.state === 'unhealthy' ? 'health-check-failed' : 'status-goal-timeout', `${first?.container} did not reach "${first?.goal}" in ${this.o.goalTimeoutMs} ms (${h?.state ?? 'absent'})`);
        }
        await this.o.clock.sleep(this.o.pollMs, signal);
      }
    },
  };
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }),
};
