// The composition root of fleet-agent: the only place the agent's objects are built and wired
// together (CONVENTIONS 8). Everything below receives its dependencies; nothing reaches for a
// module-level instance.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig, Command, Progress } from '@fleet/protocol';
import { lxcStartHelperPath, rebootSystem, Watchdog } from '@fleet/native';
import { ApiServer } from './api/server.js';
import { ContainerNotFound, Containers } from './app/containers.js';
import { ConsoleTail } from './app/log-tail.js';
import { OriginDownloader } from './app/origins.js';
import { ProgressLog } from './app/progress-log.js';
import { collectUnreferenced } from './app/garbage.js';
import { buildReport, changeKey, type ReportSources } from './app/reports.js';
import { FileBootControl, defaultFileBootPaths } from './boot/file-boot-control.js';
import { UbootEnvBootControl } from './boot/uboot-env-boot-control.js';
import { UbootEnvStore } from './boot/uboot-env-store.js';
import { AgentLink } from './link/agent-link.js';
import { loadAgentConfig } from './link/config.js';
import type { LinkLogger } from './link/logger.js';
import type { CommandResult } from './link/session.js';
import { ProgressThrottle } from './link/progress-throttle.js';
import { BridgeNetwork } from './runtime/network/bridge.js';
import { NftPortPublisher } from './runtime/network/ports.js';
import { Liblxc } from './runtime/lxc/liblxc.js';
import { LxcRuntime } from './runtime/lxc/lxc-runtime.js';
import { HelperStarter, StarterClient, type Starter } from './runtime/lxc/starter.js';
import { ObjectStore } from './store/object-store.js';
import { RevisionStore } from './store/revision-store.js';
import { VolumeStore } from './store/volumes.js';
import { Supervisor } from './supervisor/supervisor.js';
import {
  downloaderPort,
  objectStorePort,
  StoreRevisions,
  SupervisedContainers,
  systemClock,
} from './update/adapters.js';
import { DirectoryDurableFiles } from './update/atomic-file.js';
import { crashHookFromEnv } from './update/crash-points.js';
import { UpdateEngine } from './update/engine.js';
import { ExclusiveRunner } from './update/exclusive-runner.js';
import { Ledger } from './update/ledger.js';
import { FileUpdateLocks } from './update/locks.js';
import type { BootPort, Downloader } from './update/ports.js';

export const AGENT_VERSION = '0.1.0';
export { DEFAULT_CONFIG_PATH } from './config-path.js';
/**
 * Exit status of `fleet-agent run` after a simulated reboot (file boot backend): whatever runs
 * the agent on a PC or in a test power-cycles (kills the containers, runs the file
 * bootloader) and starts it again. EX_TEMPFAIL from sysexits.h.
 */
export const SIMULATED_REBOOT_EXIT = 75;

export interface RunOptions {
  readonly configPath: string;
  /** Where the agent's LXC containers live. Default `<storageDir>/containers`. */
  readonly lxcpath?: string;
  /** A watchdog device to pet while the main loop runs (e.g. /dev/watchdog). */
  readonly watchdog?: {
    readonly device: string;
    readonly intervalMs: number;
    readonly timeoutSeconds?: number;
  };
  /** uboot-env backend: the slot partitions and the fw_env.config. */
  readonly uboot?: { readonly slotA: string; readonly slotB: string; readonly fwEnvConfig: string };
  /** Health gate and status-goal polling (default 1 s) and goal timeout (default 120 s). */
  readonly pollMs?: number;
  readonly goalTimeoutMs?: number;
  /** Free space kept beyond an update's objects (default 64 MiB). */
  readonly spaceReserveBytes?: number;
  /** `FLEET_CRASH_AT` (torture tests only; inert when absent). */
  readonly crashAt?: string;
  readonly logger: LinkLogger;
}

export interface AgentHandle {
  readonly config: AgentConfig;
  readonly socketPath: string;
  /** Resolves with an exit status when the agent wants the process to end (reboot). */
  readonly exit: Promise<number>;
  /** Graceful stop: the link says goodbye, the journal keeps its state, containers keep running. */
  stop(): Promise<void>;
}

async function bootControlOf(
  config: AgentConfig,
  opts: RunOptions,
): Promise<{ boot: BootPort; simulated: boolean }> {
  if (config.bootControl === 'file') {
    const boot = new FileBootControl(defaultFileBootPaths(join(config.storageDir, 'boot')));
    await boot.ensureInitialized();
    return { boot, simulated: true };
  }
  if (config.bootControl === 'uboot-env') {
    const uboot = opts.uboot ?? config.uboot;
    if (!uboot)
      throw new Error(
        'bootControl "uboot-env" needs the slot devices: set "uboot" in the agent config or run with --slot-a <dev> --slot-b <dev> [--fw-env-config <file>]',
      );
    const store = await UbootEnvStore.fromConfigFile(uboot.fwEnvConfig);
    return {
      boot: new UbootEnvBootControl({ store, slotTargets: { A: uboot.slotA, B: uboot.slotB } }),
      simulated: false,
    };
  }
  throw new Error(
    `bootControl "${config.bootControl}" (the board's boot-control program) is not supported by this agent yet; use "file" or "uboot-env"`,
  );
}

async function readBootId(): Promise<string | undefined> {
  return readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (s) => s.trim().slice(0, 64),
    () => undefined,
  );
}

export async function startAgent(opts: RunOptions): Promise<AgentHandle> {
  const log = opts.logger;
  const config = await loadAgentConfig(opts.configPath);
  const storage = config.storageDir;
  await mkdir(storage, { recursive: true, mode: 0o700 });
  // Run flags override the config file (a board image configures the agent in agent.json).
  const lxcpath = opts.lxcpath ?? config.lxcpath ?? join(storage, 'containers');
  await mkdir(lxcpath, { recursive: true });

  // --- store
  const objects = new ObjectStore(storage);
  await objects.init();
  const revisionStore = new RevisionStore(storage);
  await revisionStore.init();
  const files = new DirectoryDurableFiles(storage);
  const revisions = new StoreRevisions(
    revisionStore,
    new DirectoryDurableFiles(join(storage, 'update-revisions')),
  );
  const ledger = new Ledger(files);

  // --- runtime
  const lxc = Liblxc.load();
  // The C helper (one long-lived process) keeps each container's monitor a fork of a tiny
  // process; the koffi starter process is the fallback where the helper was not built.
  const starter: Starter = existsSync(lxcStartHelperPath)
    ? new HelperStarter(lxcStartHelperPath)
    : new StarterClient();
  const bridge = new BridgeNetwork({
    name: 'fleet0',
    subnet: '10.213.0.0/24',
    stateFile: join(lxcpath, '.ipam.json'),
  });
  const runtime = new LxcRuntime({ lxc, starter, lxcpath, bridge, consoleLogMaxBytes: 1 << 20 });
  const runner = new ExclusiveRunner();
  // The supervisor is built below (it needs `containers.isHeld`); looked up when a command runs.
  const containers: Containers = new Containers(runtime, runner, lxcpath, (): Supervisor => supervisor);
  const { boot, simulated } = await bootControlOf(config, opts);

  // --- the link comes up in the background: provisioning may wait for the hub for a long
  // time, and the device must run its committed revision and answer locally meanwhile.
  let link: AgentLink | null = null;
  const lifetime = new AbortController();
  const progressLog = new ProgressLog();
  const pendingProgress: Progress[] = [];
  const publishProgress = (p: Progress) => {
    if (!link) {
      // Bounded: a device that never reaches its hub must not grow without limit. The durable
      // offline queue takes over once the link exists.
      pendingProgress.push(p);
      if (pendingProgress.length > 1000) pendingProgress.shift();
      return;
    }
    link.session.publish('progress', p).catch((e: Error) => log.warn(`progress not queued: ${e.message}`));
  };
  // The hub gets state changes and about one message a second; the local progress log gets all.
  const hubProgress = new ProgressThrottle(publishProgress);

  let requestExit: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => (requestExit = resolve));
  let rebooting = false;

  let linkUp: (l: AgentLink) => void = () => {};
  const linkReady = new Promise<AgentLink>((resolve) => (linkUp = resolve));
  const remoteDownloader = async (signal: AbortSignal): Promise<Downloader> => {
    const l = await Promise.race([
      linkReady,
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      }),
    ]);
    return downloaderPort(
      l.downloader({
        dir: join(storage, 'tmp', 'download'),
        has: (d) => objects.has(d),
        commit: async (d, path) => {
          await objects.adoptFile(d, path);
        },
      }),
    );
  };

  let reportSoon: () => void = () => {};
  const pollMs = opts.pollMs ?? 1_000;
  const goalTimeoutMs = opts.goalTimeoutMs ?? 120_000;
  // The one restart mechanism: every instance the engine creates is supervised (restart
  // policies, crash loops, health checks), during updates and between them. Instances of an
  // earlier agent process are adopted (same init pid) when the engine observes them at start.
  const supervisor = new Supervisor({
    runtime,
    pollIntervalMs: pollMs,
    held: (i) => containers.isHeld(i),
    onChange: () => reportSoon(),
  });
  const engineContainers = new SupervisedContainers({
    runtime,
    supervisor,
    objects,
    volumes: new VolumeStore(storage),
    revisionNumber: (id) => revisions.numberOf(id),
    clock: systemClock,
    goalTimeoutMs,
    pollMs,
    // Published ports of bridge containers: nftables DNAT switched atomically (decision 0023).
    ports: new NftPortPublisher(bridge),
  });

  // Garbage collection after every update that ends (and at start): in the runner, so it
  // never overlaps an update step and sees the journal as the step left it.
  let collecting = false;
  const collectGarbageSoon = (why: string) => {
    if (collecting) return;
    collecting = true;
    void runner
      .run('gc', () =>
        collectUnreferenced({
          objects,
          revisions: revisionStore,
          current: () => ledger.current(),
          update: () => engine.snapshot.update,
          numberOf: (id) => revisions.numberOf(id),
        }),
      )
      .then(
        (r) => {
          if (r.deleted.length > 0) log.info(`gc (${why}): ${r.deleted.length} unreferenced objects deleted`);
        },
        (e: Error) => log.warn(`gc (${why}) skipped: ${e.message}`),
      )
      .finally(() => (collecting = false));
  };

  const engine = new UpdateEngine(
    {
      files,
      revisions,
      objects: objectStorePort(objects, storage),
      downloader: new OriginDownloader(objects, remoteDownloader),
      containers: engineContainers,
      boot,
      // The engine stops driving once this resolves; the reboot itself runs after, since it
      // stops the engine (which waits for the handler that called this).
      reboot: async () => {
        setImmediate(() => void reboot('update'));
      },
      // Before the link exists there is no hub session to lose; once it does, the gate
      // requires it (an update that cuts the device off its hub is rolled back).
      hubReachable: () => (link ? link.session.connected : true),
      locks: new FileUpdateLocks(storage),
      clock: systemClock,
      report: (p) => {
        progressLog.record(p);
        hubProgress.push(p);
        reportSoon();
        // An update ended (committed, failed or rolled back): what it no longer needs can go.
        if (p.state === 'idle') collectGarbageSoon(`update ${p.updateId} ${p.status}`);
      },
      log: (level, msg) => log[level](msg),
    },
    {
      identity: { board: config.board, agentVersion: AGENT_VERSION, trustRoots: config.trustRoots },
      runner,
      crashHook: crashHookFromEnv(opts.crashAt),
      settings: {
        gate: {
          goalTimeoutMs,
          pollMs,
          hubTimeoutMs: 120_000,
        },
        ...(opts.spaceReserveBytes !== undefined ? { spaceReserveBytes: opts.spaceReserveBytes } : {}),
      },
    },
  );

  /**
   * A reboot: containers are stopped cleanly (app first), the link says goodbye, then
   * reboot(2) after sync. With the file backend the "machine" is this process: it ends with
   * SIMULATED_REBOOT_EXIT and whoever started it power-cycles.
   */
  async function reboot(why: string): Promise<void> {
    if (rebooting) return;
    rebooting = true;
    log.info(`rebooting (${why})`);
    await stopServices();
    if (simulated) {
      requestExit(SIMULATED_REBOOT_EXIT);
      return;
    }
    for (const group of ['app', 'platform']) {
      for (const c of await runtime.list()) {
        if (c.labels['fleet.group'] === group && c.state === 'running')
          await runtime.stop(c.name).catch((e: Error) => log.warn(`stop ${c.name}: ${e.message}`));
      }
    }
    rebootSystem('restart');
  }

  async function runCommand(cmd: Command, signal: AbortSignal): Promise<CommandResult> {
    try {
      switch (cmd.name) {
        case 'reboot':
          // Resolve first so the session can still ack `done`; the reboot follows.
          setTimeout(() => void reboot(`command ${cmd.commandId}`), 500).unref();
          return { ok: true, message: 'reboot scheduled' };
        case 'restart-container': {
          const c = await containers.restart(cmd.container, signal);
          return { ok: true, message: `${c.name} restarted (${c.instance}, ${c.state})` };
        }
        case 'upload-logs': {
          if (!link) return { ok: false, message: 'the link is not up' };
          const list = (await containers.list()).filter((c) => !cmd.container || c.name === cmd.container);
          if (cmd.container && list.length === 0)
            return { ok: false, message: `no container named "${cmd.container}"` };
          // The most recent lines, within one second of the shipping budget (the shipper's
          // rate limit would otherwise keep the oldest and drop what the operator wants).
          const budget = Math.max(1, Math.floor(config.limits.logLinesPerSecond / list.length));
          let lines = 0;
          for (const c of list) {
            const text = await containers.logs(c.instance, 256 * 1024);
            // The console is a pty: lines end in CRLF.
            for (const line of text
              .split(/\r?\n/)
              .filter((l) => l !== '')
              .slice(-budget)) {
              if (link.logs.push({ source: c.name, stream: 'console', text: line })) lines++;
            }
          }
          await link.logs.flush();
          return { ok: true, message: `${lines} lines from ${list.length} containers` };
        }
      }
    } catch (e) {
      return {
        ok: false,
        message: e instanceof ContainerNotFound ? e.message : `failed: ${(e as Error).message}`,
      };
    }
  }

  // --- local API (up before the engine resumes, so `status` answers during a long recovery)
  const socketPath = join(storage, 'agent.sock');
  const engineReady = { done: false };
  const api = new ApiServer({
    socketPath,
    engine,
    engineReady: () => engineReady.done,
    containers,
    objects,
    progress: progressLog,
    storageDir: storage,
    status: async () => ({
      agentVersion: AGENT_VERSION,
      board: config.board,
      storageDir: storage,
      updateState: engine.state,
      journal: engine.snapshot,
      committed: (await ledger.current())?.committed ?? null,
      bootSlot: await boot.activeSlot().catch(() => null),
      hub: link
        ? { deviceId: link.credentials.deviceId, connected: link.session.connected }
        : { deviceId: null, connected: false },
      running: runner.running,
    }),
    logger: log,
  });
  await api.listen();

  // --- resume the journal: adopts running containers (same instance, same init pid), removes
  // leftovers of a crash, brings the committed revision up or finishes/rolls back the update.
  const engineStarted = engine.start().then(() => {
    engineReady.done = true;
    collectGarbageSoon('start');
  });

  // --- the link. A configured hardware id replaces the board's (several agents on one PC).
  const hardwareId = config.hardwareId;
  const linkStarted = (async () => {
    const started = await AgentLink.start(
      {
        config,
        agentVersion: AGENT_VERSION,
        logger: log,
        ...(hardwareId !== undefined ? { hardwareId: async () => hardwareId } : {}),
        ...(await readBootId().then((id) => (id ? { bootId: id } : {}))),
        handlers: {
          onTarget: async (target) => {
            await engineStarted;
            const r = engine.offer(target);
            if (!r.accepted) log.info(`target ${target.updateId} not taken: ${r.message}`);
          },
          onCommand: (cmd, signal) => runCommand(cmd, signal),
        },
      },
      lifetime.signal,
    );
    if (lifetime.signal.aborted) {
      await started.stop();
      return;
    }
    link = started;
    linkUp(started);
    for (const p of pendingProgress.splice(0)) publishProgress(p);
    reportSoon();
  })().catch((e: Error) => {
    if (!lifetime.signal.aborted) log.error(`hub link failed: ${e.message}`);
  });

  // --- reports: periodic, and soon after any change.
  const sources: ReportSources = {
    board: config.board,
    agentVersion: AGENT_VERSION,
    storageDir: storage,
    ledger,
    objects,
    containers,
    boot,
    updateState: () => engine.state,
    restartsOf: (instance) => engineContainers.stateOf(instance),
  };
  let lastKey = '';
  let lastSent = 0;
  let reporting = false;
  const sendReport = async (force: boolean) => {
    const l = link;
    if (!l || reporting) return;
    reporting = true;
    try {
      const list = await containers.list();
      const cur = await ledger.current().catch(() => null);
      const key = changeKey(engine.state, cur?.committed.revision ?? null, undefined, list);
      if (!force && key === lastKey && Date.now() - lastSent < config.intervals.reportMs) return;
      const report = await buildReport(sources);
      await l.session.publish('report', report);
      lastKey = key;
      lastSent = Date.now();
    } catch (e) {
      log.warn(`report failed: ${(e as Error).message}`);
    } finally {
      reporting = false;
    }
  };
  reportSoon = () => void sendReport(true);
  const reportTimer = setInterval(() => void sendReport(false), Math.min(2_000, config.intervals.reportMs));

  // --- container console → log shipper (only what is written while the link is up).
  const tails = new Map<string, ConsoleTail>();
  let firstScan = true;
  let shipping = false;
  const shipLogs = async () => {
    const l = link;
    if (!l || shipping) return;
    shipping = true;
    try {
      const list = await containers.list();
      const seen = new Set<string>();
      for (const c of list) {
        seen.add(c.instance);
        let tail = tails.get(c.instance);
        if (!tail) {
          tail = await ConsoleTail.open(containers.consoleLogPath(c.instance), firstScan ? 'end' : 'start');
          tails.set(c.instance, tail);
        }
        for (const text of await tail.read()) l.logs.push({ source: c.name, stream: 'console', text });
      }
      for (const k of [...tails.keys()]) if (!seen.has(k)) tails.delete(k);
      firstScan = false;
    } catch (e) {
      log.debug(`log tail: ${(e as Error).message}`);
    } finally {
      shipping = false;
    }
  };
  const logTimer = setInterval(() => void shipLogs(), 500);

  // --- watchdog: petted from a timer on the event loop, so a stalled loop stops the pets.
  let stopPetting: () => void = () => {};
  let watchdog: Watchdog | null = null;
  const watchdogConfig = opts.watchdog ?? config.watchdog;
  if (watchdogConfig) {
    watchdog = Watchdog.open(
      watchdogConfig.device,
      watchdogConfig.timeoutSeconds !== undefined ? { timeoutSeconds: watchdogConfig.timeoutSeconds } : {},
    );
    stopPetting = watchdog.petWhileAlive(watchdogConfig.intervalMs);
  }

  // Each shutdown phase is bounded: a reboot must not wait on a hub that does not answer, and
  // SIGTERM from a service manager has its own deadline.
  const bounded = async (what: string, ms: number, work: () => Promise<unknown>): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
    const r = await Promise.race([
      work().then(
        () => 'done' as const,
        (e: Error) => (log.warn(`${what}: ${e.message}`), 'done' as const),
      ),
      timedOut,
    ]);
    clearTimeout(timer);
    if (r === 'timeout') log.warn(`${what} did not finish within ${ms} ms; going on`);
  };

  let stopping: Promise<void> | null = null;
  async function stopServices(): Promise<void> {
    stopping ??= (async () => {
      lifetime.abort(new Error('agent stopping'));
      clearInterval(reportTimer);
      clearInterval(logTimer);
      await bounded('api close', 2_000, () => api.close());
      await bounded('update engine stop', 10_000, () => engine.stop());
      // Before reboot() stops the containers: a supervisor still watching would restart the
      // "always" ones. Detached, the containers keep running for the next agent to adopt.
      await bounded('supervisor detach', 2_000, () => supervisor.detach());
      await bounded('link stop', 6_000, async () => {
        await linkStarted;
        const l = link;
        link = null;
        await l?.stop();
      });
      await bounded('starter close', 2_000, () => starter.close());
      stopPetting();
      // A graceful stop tells the driver it is intended ('V'); a crash leaves it armed.
      watchdog?.close({ magic: true });
    })();
    return stopping;
  }

  await engineStarted;
  log.info(`agent up: ${engine.state}, socket ${socketPath}`);
  return {
    config,
    socketPath,
    exit,
    stop: async () => {
      await stopServices();
      requestExit(0);
    },
  };
}
