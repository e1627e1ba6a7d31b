// Fakes of the update engine's ports for unit tests (CONVENTIONS 12). They keep state in memory
// and emulate the semantics the engine relies on: atomic small files, U-Boot's try-boot
// counter, containers that survive an agent crash but not a reboot.
import type { ContainerSpec, ContainerState, ObjectRef, Progress } from '@fleet/protocol';
import type { Executors, ObservedInstance } from '../../reconcile/index.js';
import type {
  BootPort,
  BootVerdict,
  Clock,
  Containers,
  DurableFiles,
  InstanceHealth,
  ObjectStore,
  RevisionStore,
  Slot,
  StoredRevision,
  UpdateLocks,
} from '../ports.js';

export class FakeFiles implements DurableFiles {
  readonly files = new Map<string, Buffer>();
  writes = 0;
  /** Makes each write take a few event-loop turns, like a real fsync: overlapping writes show. */
  slow = false;
  async read(name: string): Promise<Buffer | null> {
    return this.files.get(name) ?? null;
  }
  async writeAtomic(name: string, data: string): Promise<void> {
    if (this.slow) for (let i = 0; i < 1 + (data.length % 5); i++) await new Promise((r) => setImmediate(r));
    this.writes++;
    this.files.set(name, Buffer.from(data));
  }
  text(name: string): string | undefined {
    return this.files.get(name)?.toString('utf8');
  }
}

export class FakeRevisionStore implements RevisionStore {
  readonly revisions = new Map<string, StoredRevision>();
  async put(rev: StoredRevision): Promise<void> {
    this.revisions.set(rev.id, structuredClone(rev));
  }
  async get(id: string): Promise<StoredRevision | null> {
    return this.revisions.get(id) ?? null;
  }
}

export class FakeObjectStore implements ObjectStore {
  readonly present = new Set<string>();
  free = 10 * 1024 ** 3;
  async missing(refs: readonly ObjectRef[]): Promise<ObjectRef[]> {
    return refs.filter((r) => !this.present.has(r.digest));
  }
  pathOf(digest: string): string {
    return `/storage/objects/${digest}`;
  }
  async freeBytes(): Promise<number> {
    return this.free;
  }
}

export class FakeDownloader {
  calls: string[][] = [];
  fail: Error | null = null;
  constructor(private readonly store: FakeObjectStore) {}
  async fetch(
    objects: readonly ObjectRef[],
    _baseUrl: string,
    opts: { signal: AbortSignal; onProgress?: (d: number, t: number) => void },
  ): Promise<void> {
    opts.signal.throwIfAborted();
    this.calls.push(objects.map((o) => o.digest));
    if (this.fail) throw this.fail;
    const total = objects.reduce((n, o) => n + o.size, 0);
    let done = 0;
    for (const o of objects) {
      this.store.present.add(o.digest);
      done += o.size;
      opts.onProgress?.(done, total);
    }
  }
}

/** Virtual time: sleeping advances the clock at once (after letting other tasks run). */
export class FakeClock implements Clock {
  constructor(public t = Date.parse('2026-11-30T12:00:00Z')) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    await new Promise((r) => setImmediate(r));
    signal.throwIfAborted();
    this.t += ms;
  }
}

export class FakeLocks implements UpdateLocks {
  readonly holders = new Set<string>();
  async held(containers: readonly string[]): Promise<string[]> {
    return containers.filter((c) => this.holders.has(c));
  }
}

interface FakeInstance {
  container: string;
  instance: string;
  spec: ContainerSpec;
  revision: string;
  running: boolean;
  restarts: number;
}

/** Containers as the supervisor would run them. `behaviour` decides how a started one does. */
export class FakeContainers implements Containers {
  readonly instances = new Map<string, FakeInstance>();
  readonly log: string[] = [];
  /** What a running instance of this spec reports; default: its goal. */
  behaviour: (container: string, spec: ContainerSpec) => ContainerState | 'start-fails' = (_c, spec) =>
    spec.statusGoal === 'ready' ? 'ready' : 'running';

  async observe(): Promise<ObservedInstance[]> {
    return [...this.instances.values()].map((i) => ({
      container: i.container,
      instance: i.instance,
      group: i.spec.group,
      running: i.running,
      stopTimeoutMs: i.spec.start.stopTimeoutMs,
    }));
  }

  async health(names: readonly string[]): Promise<InstanceHealth[]> {
    return names.map((n) => {
      const i = this.instances.get(n);
      if (!i) return { instance: n, state: 'exited' as const, restarts: 0 };
      if (!i.running) return { instance: n, state: 'stopped' as const, restarts: i.restarts };
      const b = this.behaviour(i.container, i.spec);
      return {
        instance: n,
        state: b === 'start-fails' ? ('exited' as const) : b,
        restarts: b === 'crash-loop' ? i.restarts + 6 : i.restarts,
      };
    });
  }

  readonly executors: Executors = {
    stop: async (s) => {
      this.log.push(`stop ${s.instance}`);
      const i = this.instances.get(s.instance);
      if (i) i.running = false;
    },
    remove: async (s) => {
      this.log.push(`remove ${s.instance}`);
      this.instances.delete(s.instance);
    },
    'prepare-volumes': async (s) => {
      this.log.push(`prepare-volumes ${s.instance}`);
    },
    publish: async (s) => {
      this.log.push(`publish ${s.instance}`);
    },
    create: async (s) => {
      this.log.push(`create ${s.instance}`);
      if (!this.instances.has(s.instance)) {
        this.instances.set(s.instance, {
          container: s.container,
          instance: s.instance,
          spec: s.spec,
          revision: s.revision,
          running: false,
          restarts: 0,
        });
      }
    },
    start: async (s) => {
      this.log.push(`start ${s.instance}`);
      const i = this.instances.get(s.instance);
      if (!i) throw new Error(`no instance ${s.instance}`);
      if (this.behaviour(i.container, i.spec) === 'start-fails')
        throw new Error(`${s.container}: init exited at once`);
      i.running = true;
    },
    'wait-goals': async (s) => {
      this.log.push(`wait-goals ${s.group}`);
      for (const h of await this.health(s.instances.map((x) => x.instance))) {
        if (h.state === 'crash-loop')
          throw Object.assign(new Error(`${h.instance} is crash-looping`), { reason: 'crash-loop' });
      }
    },
  };

  /** The containers that run now, as `<container>@<revision>`. */
  running(): string[] {
    return [...this.instances.values()]
      .filter((i) => i.running)
      .map((i) => i.instance)
      .sort();
  }

  /** A reboot: nothing runs afterwards; definitions stay on the data partition. */
  powerCycle(): void {
    for (const i of this.instances.values()) i.running = false;
  }
}

/** U-Boot try-boot semantics (boot_slot, upgrade_available, bootcount, bootlimit, fallback). */
export class FakeBootControl implements BootPort {
  bootSlot: Slot = 'A';
  booted: Slot = 'A';
  upgradeAvailable = false;
  bootcount = 0;
  bootlimit = 3;
  fallbackFrom: Slot | undefined;
  readonly content: Record<Slot, string | undefined> = { A: 'factory', B: undefined };
  /** Slot contents that do not boot (kernel panic): the boot script counts and falls back. */
  readonly brokenImages = new Set<string>();
  readonly calls: string[] = [];

  async activeSlot(): Promise<Slot> {
    return this.booted;
  }
  async install(_source: string, slot: Slot, o?: { expectedDigest?: string }): Promise<unknown> {
    this.calls.push(`install ${slot}`);
    if (slot === this.booted) throw new Error(`slot ${slot} is running`);
    this.content[slot] = o?.expectedDigest;
    return {};
  }
  async armTryBoot(slot: Slot): Promise<void> {
    this.calls.push(`arm ${slot}`);
    if (slot === this.booted) throw new Error('cannot arm the running slot');
    this.bootSlot = slot;
    this.upgradeAvailable = true;
    this.bootcount = 0;
    this.fallbackFrom = undefined;
  }
  async verifyBoot(): Promise<BootVerdict> {
    if (this.upgradeAvailable) {
      if (this.bootSlot === this.booted)
        return {
          bootedSlot: this.booted,
          triedSlot: this.booted,
          fellBack: false,
          bootcount: this.bootcount,
        };
      return {
        bootedSlot: this.booted,
        fellBack: false,
        bootcount: this.bootcount,
        armedSlot: this.bootSlot,
      };
    }
    if (this.fallbackFrom && this.fallbackFrom !== this.booted) {
      return {
        bootedSlot: this.booted,
        triedSlot: this.fallbackFrom,
        fellBack: true,
        bootcount: this.bootcount,
      };
    }
    return { bootedSlot: this.booted, fellBack: false, bootcount: this.bootcount };
  }
  async commit(): Promise<unknown> {
    this.calls.push('commit');
    if (this.bootSlot !== this.booted) throw new Error('reboot first');
    this.upgradeAvailable = false;
    this.bootcount = 0;
    this.fallbackFrom = undefined;
    return {};
  }
  async rollback(): Promise<{ nextSlot: Slot; rebootRequired: boolean }> {
    this.calls.push('rollback');
    if (!this.upgradeAvailable) throw new Error('nothing to roll back');
    if (this.bootSlot !== this.booted) {
      this.bootSlot = this.booted;
      this.upgradeAvailable = false;
      this.bootcount = 0;
      return { nextSlot: this.booted, rebootRequired: false };
    }
    const next: Slot = this.booted === 'A' ? 'B' : 'A';
    this.bootSlot = next;
    this.upgradeAvailable = false;
    this.fallbackFrom = this.booted;
    return { nextSlot: next, rebootRequired: true };
  }

  /** Power on: run the boot script until a slot boots (broken images fail and are counted). */
  powerOn(): Slot {
    for (let guard = 0; guard < 20; guard++) {
      if (this.upgradeAvailable) {
        this.bootcount++;
        if (this.bootcount > this.bootlimit) {
          this.fallbackFrom = this.bootSlot;
          this.bootSlot = this.bootSlot === 'A' ? 'B' : 'A';
          this.upgradeAvailable = false;
        }
      }
      const image = this.content[this.bootSlot];
      if (image === undefined || !this.brokenImages.has(image)) {
        this.booted = this.bootSlot;
        return this.booted;
      }
    }
    throw new Error('no slot boots');
  }
}

export class ProgressLog {
  readonly all: Progress[] = [];
  readonly push = (p: Progress) => {
    this.all.push(p);
  };
  statuses(updateId?: string): string[] {
    const out: string[] = [];
    for (const p of this.all.filter((x) => updateId === undefined || x.updateId === updateId)) {
      if (out[out.length - 1] !== p.status) out.push(p.status);
    }
    return out;
  }
  final(updateId: string): Progress | undefined {
    return this.all.filter((p) => p.updateId === updateId && p.state === 'idle').at(-1);
  }
}
