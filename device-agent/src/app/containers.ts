// The agent's view of its containers for the local API, reports and hub commands: container
// names (as in the manifest) mapped to the runtime instances the update engine created.
import { join } from 'node:path';
import {
  HealthCheck,
  type ContainerState,
  type ContainerStatus as WireContainerStatus,
} from '@fleet/protocol';
import { LABEL_CONTAINER, LABEL_REVISION } from '../reconcile/index.js';
import type { ContainerRuntime, ContainerStatus, RuntimeState } from '../runtime/container-runtime.js';
import type { ExclusiveRunner } from '../update/exclusive-runner.js';

export interface ContainerInfo {
  readonly name: string;
  readonly instance: string;
  readonly revision: string | null;
  readonly state: ContainerState;
  readonly initPid: number | null;
  readonly exitCode: number | null;
  readonly message?: string;
}

const STATE: Record<RuntimeState, ContainerState> = {
  stopped: 'exited',
  absent: 'exited',
  starting: 'starting',
  running: 'running',
  stopping: 'stopping',
  frozen: 'frozen',
};

/** The supervisor's operator calls (structurally), for instances it supervises. */
export interface SupervisedOps {
  has(instance: string): boolean;
  startContainer(instance: string): Promise<void>;
  stopContainer(instance: string): Promise<void>;
  restartContainer(instance: string): Promise<void>;
}

export class ContainerNotFound extends Error {
  override readonly name = 'ContainerNotFound';
}

export class Containers {
  // Instances an operator stopped through the local API: restart policies leave them alone
  // until they are started again (in memory: an agent restart forgets, like a reboot would).
  private readonly held = new Set<string>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly runner: ExclusiveRunner,
    private readonly lxcpath: string,
    // Operator commands on a supervised instance go through the supervisor, so its policy
    // never sees the operator's stop as a crash to restart (or races the operator's start).
    private readonly supervisor: () => SupervisedOps | null = () => null,
  ) {}

  private supervising(instance: string): SupervisedOps | null {
    const sup = this.supervisor();
    return sup?.has(instance) ? sup : null;
  }

  /** Every container of ours, without running health checks (cheap: used for change detection). */
  async list(): Promise<ContainerInfo[]> {
    const all = await this.runtime.list();
    return all
      .filter((c) => c.labels[LABEL_CONTAINER] !== undefined)
      .map((c) => this.info(c))
      .sort((a, b) => a.name.localeCompare(b.name) || a.instance.localeCompare(b.instance));
  }

  private info(c: ContainerStatus, health?: { ok: boolean; message?: string }): ContainerInfo {
    let state = STATE[c.state];
    let message: string | undefined =
      c.lastExit && state === 'exited' ? `exit code ${c.lastExit.code}` : undefined;
    if (health && state === 'running') {
      state = health.ok ? 'ready' : 'unhealthy';
      if (health.message) message = health.message;
    }
    return {
      name: c.labels[LABEL_CONTAINER] as string,
      instance: c.name,
      revision: c.labels[LABEL_REVISION] ?? null,
      state,
      initPid: c.initPid,
      exitCode: c.lastExit?.code ?? null,
      ...(message ? { message } : {}),
    };
  }

  /** Like list(), with each running container's exec health check run once. */
  async withHealth(): Promise<ContainerInfo[]> {
    const all = (await this.runtime.list()).filter((c) => c.labels[LABEL_CONTAINER] !== undefined);
    const out: ContainerInfo[] = [];
    for (const c of all) {
      const hc = c.labels['fleet.health'];
      if (c.state !== 'running' || !hc) {
        out.push(this.info(c));
        continue;
      }
      const check = HealthCheck.safeParse(JSON.parse(hc));
      if (!check.success) {
        out.push(this.info(c));
        continue;
      }
      const r = await this.runtime
        .exec(c.name, check.data.exec, { timeoutMs: check.data.timeoutMs })
        .catch((e: Error) => ({ exitCode: null, timedOut: false, stderr: e.message }));
      out.push(
        this.info(
          c,
          r.exitCode === 0
            ? { ok: true }
            : {
                ok: false,
                message: `health check ${r.timedOut ? 'timed out' : `exited ${r.exitCode ?? '?'}`}`,
              },
        ),
      );
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  isHeld(instance: string): boolean {
    return this.held.has(instance);
  }

  /** Wire form for reports; `restartsOf` comes from the supervised containers (SupervisedContainers.stateOf). */
  static wire(
    list: readonly ContainerInfo[],
    restartsOf: (instance: string) => { restarts: number; crashLoop: boolean } = () => ({
      restarts: 0,
      crashLoop: false,
    }),
  ): WireContainerStatus[] {
    return list.map((c) => ({
      name: c.name,
      state: c.state === 'exited' && restartsOf(c.instance).crashLoop ? 'crash-loop' : c.state,
      restarts: restartsOf(c.instance).restarts,
      ...(c.exitCode !== null && c.state === 'exited' ? { exitCode: c.exitCode } : {}),
      ...(c.message ? { message: c.message.slice(0, 1024) } : {}),
    }));
  }

  /** The instance serving a container name. With several (hand-over in flight), the running one. */
  async resolve(name: string): Promise<ContainerInfo> {
    const matches = (await this.list()).filter((c) => c.name === name || c.instance === name);
    const pick = matches.find((c) => c.state === 'running') ?? matches[0];
    if (!pick) throw new ContainerNotFound(`no container named "${name}"`);
    return pick;
  }

  consoleLogPath(instance: string): string {
    return join(this.lxcpath, instance, 'console.log');
  }

  // Container commands share the update engine's runner: a restart never interleaves with an
  // update step that is stopping or starting the same instances.
  async start(name: string, signal?: AbortSignal): Promise<ContainerInfo> {
    const c = await this.resolve(name);
    this.held.delete(c.instance);
    await this.runner.run(
      `api:start:${c.instance}`,
      async () => {
        const sup = this.supervising(c.instance);
        if (sup) await sup.startContainer(c.instance);
        else await this.runtime.start(c.instance, signal);
      },
      signal,
    );
    return this.resolve(c.instance);
  }

  async stop(name: string, signal?: AbortSignal): Promise<ContainerInfo> {
    const c = await this.resolve(name);
    this.held.add(c.instance);
    await this.runner.run(
      `api:stop:${c.instance}`,
      async () => {
        const sup = this.supervising(c.instance);
        if (sup) await sup.stopContainer(c.instance);
        else await this.runtime.stop(c.instance);
      },
      signal,
    );
    return this.resolve(c.instance);
  }

  async restart(name: string, signal?: AbortSignal): Promise<ContainerInfo> {
    const c = await this.resolve(name);
    this.held.delete(c.instance);
    await this.runner.run(
      `api:restart:${c.instance}`,
      async () => {
        const sup = this.supervising(c.instance);
        if (sup) return sup.restartContainer(c.instance);
        const st = await this.runtime.state(c.instance);
        if (st.state === 'running' || st.state === 'frozen' || st.state === 'starting')
          await this.runtime.stop(c.instance);
        await this.runtime.start(c.instance, signal);
      },
      signal,
    );
    return this.resolve(c.instance);
  }

  logs(instance: string, tailBytes: number): Promise<string> {
    return this.runtime.logs(instance, { tailBytes });
  }
}
