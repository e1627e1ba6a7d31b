// Adapters from the engine's ports (ports.ts) to the agent's real parts: store/, runtime/,
// link/. main.ts composes them; the integration test uses them on real LXC.
import { statfs } from 'node:fs/promises';
import {
  ContainerSpec,
  HealthCheck,
  ReleaseManifest,
  type ContainerState,
  type ObjectRef,
  type ReasonCode,
  type VolumeSpec,
} from '@fleet/protocol';
import { z } from 'zod';
import {
  LABEL_CONTAINER,
  LABEL_GROUP,
  LABEL_REVISION,
  LABEL_SPEC_HASH,
  specHash,
  type Executors,
  type ObservedInstance,
  type Step,
} from '../reconcile/index.js';
import type { ContainerRuntime, CreateRequest, VolumeSource } from '../runtime/container-runtime.js';
import { drainConnections, type PortPublisher } from '../runtime/network/ports.js';
import type { ObjectStore as StoreObjects } from '../store/object-store.js';
import type { RevisionStore as StoreRevisionStore } from '../store/revision-store.js';
import type { VolumeStore } from '../store/volumes.js';
import type { SupervisedStatus, Supervisor } from '../supervisor/supervisor.js';
import { lockDirOnHost } from './locks.js';
import type {
  Clock,
  Containers,
  Downloader,
  DurableFiles,
  InstanceHealth,
  ObjectStore,
  RevisionStore,
  StoredRevision,
} from './ports.js';
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
  download(
    objects: readonly ObjectRef[],
    baseUrl: string,
    o: { signal?: AbortSignal; onProgress?: (p: { bytesDone: number; bytesTotal: number }) => void },
  ): Promise<unknown>;
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
    await this.docs.writeAtomic(
      `${rev.id}.json`,
      `${JSON.stringify({ spec: 'fleet-stored-revision@1', n, ...rev })}\n`,
    );
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
/** The whole spec (canonical JSON): what a restarted agent needs to supervise a running instance. */
const LABEL_SPEC = 'fleet.spec';

export interface RuntimeContainersOptions {
  readonly runtime: ContainerRuntime;
  readonly objects: Pick<StoreObjects, 'pathOf'>;
  readonly volumes: VolumeStore;
  readonly revisionNumber: (id: string) => Promise<number>;
  readonly clock: Clock;
  /** How long `wait-goals` waits for a group (the health gate has its own timeout). */
  readonly goalTimeoutMs: number;
  readonly pollMs: number;
  /**
   * The storage dir holding `locks/<container>/` (update/locks.ts), bind-mounted at `/run/fleet`
   * in every instance. Default: the volume store's root, which is the storage dir in main.ts.
   */
  readonly locksRoot?: string;
  /** Host ports of `bridge` containers (runtime/network/ports.ts); without it `ports` fail. */
  readonly ports?: PortPublisher;
  /** Longest wait for a handed-over instance's connections to close before its stop (5 s). */
  readonly drainMaxMs?: number;
}

class GoalFailure extends Error {
  constructor(
    readonly reason: ReasonCode,
    message: string,
  ) {
    super(message);
  }
}

const RUNTIME_STATE: Record<Awaited<ReturnType<ContainerRuntime['state']>>['state'], ContainerState> = {
  stopped: 'exited',
  absent: 'exited',
  starting: 'starting',
  running: 'running',
  stopping: 'stopping',
  frozen: 'frozen',
};

/** The definition an instance gets: labels for adoption, the volumes prepared, the lock dir. */
abstract class InstanceFactory {
  constructor(protected readonly o: RuntimeContainersOptions) {}

  protected async volumeSources(
    container: string,
    revision: string,
    volumes: readonly VolumeSpec[],
  ): Promise<Record<string, VolumeSource>> {
    const n = await this.o.revisionNumber(revision);
    const out: Record<string, VolumeSource> = {};
    for (const v of volumes) {
      const m = await this.o.volumes.prepare(container, v, n);
      out[v.name] =
        m.kind === 'bind'
          ? { kind: 'bind', hostPath: m.source }
          : { kind: 'tmpfs', ...(v.sizeBytes !== undefined ? { sizeBytes: v.sizeBytes } : {}) };
    }
    return out;
  }

  protected async createRequest(s: {
    readonly container: string;
    readonly instance: string;
    readonly revision: string;
    readonly spec: ContainerSpec;
  }): Promise<CreateRequest & { labels: Record<string, string> }> {
    return {
      name: s.instance,
      spec: s.spec,
      rootfs: { kind: 'squashfs', path: this.o.objects.pathOf(s.spec.rootfs.digest) },
      volumes: await this.volumeSources(s.container, s.revision, s.spec.volumes),
      labels: {
        [LABEL_CONTAINER]: s.container,
        [LABEL_GROUP]: s.spec.group,
        [LABEL_REVISION]: s.revision,
        [LABEL_SPEC_HASH]: specHash(s.spec),
        [LABEL_STOP_TIMEOUT]: String(s.spec.start.stopTimeoutMs),
        ...(s.spec.health ? { [LABEL_HEALTH]: JSON.stringify(s.spec.health) } : {}),
        [LABEL_SPEC]: JSON.stringify(s.spec),
      },
      updateLockDir: lockDirOnHost(this.o.locksRoot ?? this.o.volumes.root, s.container),
    };
  }

  protected observed(
    c: Awaited<ReturnType<ContainerRuntime['list']>>[number],
    running: boolean,
    published: ReadonlyMap<string, string[]> | null,
  ): ObservedInstance {
    return {
      container: c.labels[LABEL_CONTAINER] as string,
      instance: c.name,
      group: c.labels[LABEL_GROUP] === 'platform' ? 'platform' : 'app',
      running,
      stopTimeoutMs: Number(c.labels[LABEL_STOP_TIMEOUT] ?? 10_000),
      ...(published ? { published: published.get(c.name) ?? [] } : {}),
    };
  }

  /** Who holds which host port now (null without a port publisher: the plan takes it as right). */
  protected async publishedPorts(): Promise<ReadonlyMap<string, string[]> | null> {
    return this.o.ports ? this.o.ports.published() : null;
  }

  protected async publish(s: Step<'publish'>, signal: AbortSignal): Promise<void> {
    if (!this.o.ports)
      throw new Error(`${s.container} publishes ports but this agent has no port publisher (bridge)`);
    await this.o.ports.publish(s.instance, s.ports, { timeoutMs: this.o.goalTimeoutMs, signal });
  }

  /**
   * Before a stop: host ports still pointing at the instance go (new connections are refused
   * at once instead of waiting on a stopped address); after a hand-over's switch, the
   * connections it already accepted may finish first (bounded), so none is cut.
   */
  protected async beforeStop(s: Step<'stop'>): Promise<void> {
    await this.o.ports?.unpublish(s.instance);
    if (!s.drain || !this.o.ports) return;
    const pid = (await this.o.runtime.state(s.instance)).initPid;
    if (pid !== null) await drainConnections(pid, Math.min(s.timeoutMs, this.o.drainMaxMs ?? 5_000));
  }

  /** Runtime state plus the spec's exec health check, run now (instances nobody supervises). */
  protected async runtimeHealth(name: string): Promise<InstanceHealth> {
    const st = await this.o.runtime.state(name);
    let state = RUNTIME_STATE[st.state];
    let message: string | undefined = st.lastExit ? `exit code ${st.lastExit.code}` : undefined;
    const hc = st.labels[LABEL_HEALTH];
    if (state === 'running' && hc) {
      const check = HealthCheck.parse(JSON.parse(hc));
      const r = await this.o.runtime
        .exec(name, check.exec, { timeoutMs: check.timeoutMs })
        .catch((e: Error) => ({ exitCode: null, stderr: e.message, timedOut: false }));
      state = r.exitCode === 0 ? 'ready' : 'unhealthy';
      if (r.exitCode !== 0)
        message = `health check ${r.timedOut ? 'timed out' : `exited ${r.exitCode ?? '?'}`}`;
    }
    return { instance: name, state, restarts: 0, ...(message ? { message } : {}) };
  }
}

/**
 * Containers on a bare ContainerRuntime, one instance per changed spec. Health is the runtime
 * state plus the spec's exec health check, run when sampled.
 *
 * No restart policies: an instance that exits is reported `exited` and the health gate fails
 * it (the safe direction: the update rolls back). SupervisedContainers is the same with the
 * supervisor's restart policies, crash-loop detection and health checks.
 */
export class RuntimeContainers extends InstanceFactory implements Containers {
  async observe(): Promise<ObservedInstance[]> {
    const list = await this.o.runtime.list();
    const published = await this.publishedPorts();
    return list
      .filter((c) => c.labels[LABEL_CONTAINER] !== undefined)
      .map((c) =>
        this.observed(c, c.state === 'running' || c.state === 'starting' || c.state === 'frozen', published),
      );
  }

  async health(names: readonly string[]): Promise<InstanceHealth[]> {
    const out: InstanceHealth[] = [];
    for (const name of names) out.push(await this.runtimeHealth(name));
    return out;
  }

  readonly executors: Executors = {
    stop: async (s) => {
      await this.beforeStop(s);
      await this.o.runtime.stop(s.instance, { timeoutMs: s.timeoutMs });
    },
    remove: async (s) => {
      await this.o.ports?.unpublish(s.instance);
      await this.o.runtime.remove(s.instance);
    },
    publish: (s, signal) => this.publish(s, signal),
    'prepare-volumes': async (s) => {
      await this.volumeSources(s.container, s.revision, s.volumes);
    },
    create: async (s, signal) => {
      await this.o.runtime.create(await this.createRequest(s), signal);
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
          return i.goal === 'ready'
            ? h?.state !== 'ready'
            : !(h && ['running', 'ready', 'unhealthy'].includes(h.state));
        });
        const dead = health.find((h) => h.state === 'exited');
        if (dead)
          throw new GoalFailure(
            'container-start-failed',
            `${dead.instance} exited before its status goal${dead.message ? ` (${dead.message})` : ''}`,
          );
        if (pending.length === 0) return;
        if (this.o.clock.now() - since >= this.o.goalTimeoutMs) {
          const first = pending[0];
          const h = health.find((x) => x.instance === first?.instance);
          throw new GoalFailure(
            h?.state === 'unhealthy' ? 'health-check-failed' : 'status-goal-timeout',
            `${first?.container} did not reach "${first?.goal}" in ${this.o.goalTimeoutMs} ms (${h?.state ?? 'absent'})`,
          );
        }
        await this.o.clock.sleep(this.o.pollMs, signal);
      }
    },
  };
}

export interface SupervisedContainersOptions extends RuntimeContainersOptions {
  /** Owns the instances: restart policies, crash loops, health checks. main.ts detaches it at shutdown. */
  readonly supervisor: Supervisor;
}

/**
 * Containers driven through the Supervisor: every instance the engine creates gets its restart
 * policy (exponential backoff), crash-loop detection and health checks, also between updates;
 * the health gate reads the supervisor's view (state, restarts since creation). Running
 * instances of an earlier agent process are adopted by observe() from their `fleet.spec` label.
 */
export class SupervisedContainers extends InstanceFactory implements Containers {
  private readonly sup: Supervisor;

  constructor(o: SupervisedContainersOptions) {
    super(o);
    this.sup = o.supervisor;
  }

  async observe(): Promise<ObservedInstance[]> {
    const out: ObservedInstance[] = [];
    const published = await this.publishedPorts();
    for (const c of await this.o.runtime.list()) {
      if (c.labels[LABEL_CONTAINER] === undefined) continue;
      const up = c.state === 'running' || c.state === 'starting' || c.state === 'frozen';
      if (up && !this.sup.has(c.name)) await this.adopt(c.name, c.labels);
      const st = this.sup.statusOf(c.name);
      out.push(this.observed(c, st ? wantedUp(st) : up, published));
    }
    return out;
  }

  private async adopt(name: string, labels: Readonly<Record<string, string>>): Promise<void> {
    const raw = labels[LABEL_SPEC];
    if (raw === undefined) return; // defined by an agent that did not record specs: runtime view only
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return; // a damaged label: the runtime view is still right, only policies are missing
    }
    const spec = ContainerSpec.safeParse(json);
    if (spec.success) await this.sup.adopt({ name, spec: spec.data });
  }

  async health(names: readonly string[]): Promise<InstanceHealth[]> {
    // A fresh observation, not the loop's last one: the gate must not commit a workload that
    // exited since the supervisor last looked.
    await this.sup.refresh(names);
    const out: InstanceHealth[] = [];
    for (const name of names) {
      const st = this.sup.statusOf(name);
      out.push(
        st
          ? {
              instance: name,
              state: st.state,
              restarts: st.totalRestarts,
              ...(st.reason ? { message: st.reason } : {}),
            }
          : await this.runtimeHealth(name),
      );
    }
    return out;
  }

  /** For reports: restarts since creation, crash loop. */
  stateOf(instance: string): { restarts: number; crashLoop: boolean } {
    const st = this.sup.statusOf(instance);
    return { restarts: st?.totalRestarts ?? 0, crashLoop: st?.state === 'crash-loop' };
  }

  readonly executors: Executors = {
    stop: async (s) => {
      await this.beforeStop(s);
      await this.sup.stop(s.instance, s.timeoutMs);
    },
    remove: async (s) => {
      await this.o.ports?.unpublish(s.instance);
      await this.sup.remove(s.instance);
    },
    publish: (s, signal) => this.publish(s, signal),
    'prepare-volumes': async (s) => {
      await this.volumeSources(s.container, s.revision, s.volumes);
    },
    create: async (s, signal) => {
      await this.sup.create(await this.createRequest(s), signal);
    },
    start: async (s) => {
      if (!this.sup.has(s.instance)) {
        // Defined by an earlier agent process and not running (a crash between create and start).
        const st = await this.o.runtime.state(s.instance);
        await this.adopt(s.instance, st.labels);
      }
      // No spec label (defined by an older agent): started unsupervised, as RuntimeContainers would.
      if (!this.sup.has(s.instance)) await this.o.runtime.start(s.instance);
      else await this.sup.start(s.instance);
    },
    'wait-goals': async (s, signal) => {
      const r = await this.sup.waitGoals(
        s.instances.map((i) => i.instance),
        signal,
        { timeoutMs: this.o.goalTimeoutMs },
      );
      if (!r.ok) {
        const c = s.instances.find((i) => i.instance === r.container)?.container ?? r.container;
        throw new GoalFailure(r.reason, `${c}: ${r.message}`);
      }
    },
  };
}

/**
 * Whether a plan should take the instance as up: the supervisor keeps it (running, waiting for
 * a policy restart, or given up as a crash loop, which the health gate reports). Stopped on
 * request, or exited for good: not up, a plan starts it again.
 */
function wantedUp(st: SupervisedStatus): boolean {
  if (st.state === 'stopped' || st.state === 'stopping' || st.state === 'created') return false;
  if (st.state === 'exited') return st.restartPending;
  return true;
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
