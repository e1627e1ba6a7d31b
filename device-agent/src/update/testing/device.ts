// A whole simulated device for engine tests: one set of fakes that outlives engine instances,
// so a test can "crash" the agent (drop the engine, start a new one) or reboot the machine.
import {
  generateSigningKey,
  type ReleaseManifest,
  type ReleaseManifestInput,
  type Target,
} from '@fleet/protocol';
import { UpdateEngine, type EngineOptions } from '../engine.js';
import { ExclusiveRunner } from '../exclusive-runner.js';
import { readJournal } from '../journal.js';
import { Ledger } from '../ledger.js';
import type { UpdateDeps } from '../ports.js';
import { aRelease, aTarget } from './builders.js';
import {
  FakeBootControl,
  FakeClock,
  FakeContainers,
  FakeDownloader,
  FakeFiles,
  FakeLocks,
  FakeObjectStore,
  FakeRevisionStore,
  ProgressLog,
} from './fakes.js';

export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

export const signingKey = generateSigningKey('test');

export function aSignedRelease(over: Partial<ReleaseManifestInput> = {}): ReleaseManifest {
  return aRelease(over, signingKey);
}

export class SimulatedDevice {
  readonly files = new FakeFiles();
  readonly revisions = new FakeRevisionStore();
  readonly objects = new FakeObjectStore();
  readonly downloader = new FakeDownloader(this.objects);
  readonly containers = new FakeContainers();
  readonly boot = new FakeBootControl();
  readonly clock = new FakeClock();
  readonly locks = new FakeLocks();
  readonly progress = new ProgressLog();
  readonly logs: string[] = [];
  rebootRequested = false;
  hubUp: boolean | undefined = undefined;
  bootLog: string | undefined;
  engine: UpdateEngine;
  /** Set to make the engine "die" (throw) at a state boundary, once. */
  crashAt: string | null = null;

  constructor(
    private readonly options: Partial<Omit<EngineOptions, 'runner' | 'crashHook'>> & {
      withBoot?: boolean;
    } = {},
  ) {
    this.engine = this.newEngine();
  }

  get deps(): UpdateDeps {
    return {
      files: this.files,
      revisions: this.revisions,
      objects: this.objects,
      downloader: this.downloader,
      containers: this.containers,
      ...(this.options.withBoot === false ? {} : { boot: this.boot }),
      reboot: async () => {
        this.rebootRequested = true;
      },
      failedBootLog: async () => this.bootLog,
      ...(this.hubUp !== undefined ? { hubReachable: () => this.hubUp === true } : {}),
      locks: this.locks,
      clock: this.clock,
      report: this.progress.push,
      log: (level, msg) => this.logs.push(`${level}: ${msg}`),
    };
  }

  private newEngine(): UpdateEngine {
    return new UpdateEngine(this.deps, {
      identity: { board: 'qemu-aarch64', agentVersion: '1.0.0', trustRoots: [signingKey.trustRoot] },
      runner: new ExclusiveRunner(),
      settings: { gate: { goalTimeoutMs: 10_000, pollMs: 1_000, hubTimeoutMs: 5_000 } },
      crashHook: (state, phase) => {
        if (this.crashAt === `${state}:${phase}`) {
          this.crashAt = null;
          throw new SimulatedCrash(`crash at ${state}:${phase}`);
        }
      },
      ...this.options,
    });
  }

  /** Start the agent; a simulated crash inside start is swallowed (the process "died"). */
  async start(): Promise<void> {
    try {
      await this.engine.start();
    } catch (e) {
      if (!(e instanceof SimulatedCrash)) throw e;
    }
    await this.settle();
  }

  async settle(): Promise<void> {
    await this.engine.settled();
  }

  /** The agent process dies and starts again; containers keep running (the agent is not their parent). */
  async restartAgent(): Promise<void> {
    await this.engine.stop();
    this.engine = this.newEngine();
    await this.start();
  }

  /** The machine reboots: the bootloader picks a slot, nothing runs, then the agent starts. */
  async reboot(): Promise<void> {
    await this.engine.stop();
    this.rebootRequested = false;
    this.boot.powerOn();
    this.containers.powerCycle();
    this.engine = this.newEngine();
    await this.start();
  }

  /** Offers a target and runs until the engine settles, following reboots it asks for. */
  async update(target: Target, opts: { followReboots?: boolean } = {}): Promise<void> {
    this.engine.offer(target);
    await this.settle();
    while (opts.followReboots !== false && this.rebootRequested) await this.reboot();
  }

  async committed(): Promise<string | undefined> {
    return (await new Ledger(this.files).current())?.committed.revision;
  }

  async journalState(): Promise<string> {
    const j = await readJournal(this.files);
    return j.ok ? j.journal.state : `corrupt: ${j.error}`;
  }

  target(release: ReleaseManifest, over: Partial<Target> = {}): Target {
    return aTarget(release, over);
  }
}
