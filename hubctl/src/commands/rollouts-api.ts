// The hub's rollout, dry-run and configuration routes for the `deploy`, `rollouts ...`, `apply`
// and `env ...` commands (not a command itself). HubClient keeps its token private and has no
// generic request method, so these routes get their own small client here, authenticated the
// same way (HUBCTL_URL + HUBCTL_TOKEN, or the stored login) and failing with the same errors.
import {
  ApplyRolloutResult,
  ConfigChangeResult,
  ConfigVariableList,
  DryRunReport,
  EffectiveConfig,
  Page,
  parseApiResponse,
  RolloutDetail,
  RolloutDevice,
  totalOf,
  type Phase,
  type RolloutAction,
  type RolloutSpecRequest,
} from '@fleet/protocol';
import { z } from 'zod';
import type { CommandContext } from '../cli/command.js';
import { HubctlError, HubUnreachableError } from '../cli/errors.js';
import { hubError, unexpectedAnswer } from '../hub/hub-client.js';

// The shapes are the hub's, from @fleet/protocol (api/rollouts.ts, api/config.ts).

export class RolloutsApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly signal?: AbortSignal,
  ) {}

  private async request<S extends z.ZodType>(
    schema: S,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; data: z.output<S> }> {
    const url = `${this.baseUrl.replace(/\/+$/, '')}/api/v1${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(this.signal ? { signal: this.signal } : {}),
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      const cause = (e as { cause?: { code?: string } }).cause;
      throw new HubUnreachableError(
        `cannot reach the hub at ${this.baseUrl}: ${cause?.code ?? (e as Error).message}`,
        'check the URL (`hubctl login --url ...`) and that the hub is running',
        { cause: e },
      );
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: the text is the message
    }
    if (res.status >= 400) throw hubError(res.status, method, `/api/v1${path}`, parsed);
    const what = `${method} /api/v1${path}`;
    const r = parseApiResponse(what, schema, parsed);
    if (!r.ok) throw unexpectedAnswer(what, r.error);
    return { status: res.status, data: r.value };
  }

  async create(spec: RolloutSpecRequest): Promise<RolloutDetail> {
    return (await this.request(RolloutDetail, 'POST', '/rollouts', spec)).data;
  }
  async dryRun(spec: RolloutSpecRequest): Promise<DryRunReport> {
    return (await this.request(DryRunReport, 'POST', '/rollouts/dry-run', spec)).data;
  }
  async apply(name: string, spec: Omit<RolloutSpecRequest, 'name'>): Promise<ApplyRolloutResult> {
    return (
      await this.request(ApplyRolloutResult, 'PUT', `/rollouts/by-name/${encodeURIComponent(name)}`, spec)
    ).data;
  }
  async list(q: {
    fleet?: string;
    state?: string;
    limit?: number;
    cursor?: string;
  }): Promise<Page<RolloutDetail>> {
    const qs = queryString(q);
    return (await this.request(Page(RolloutDetail), 'GET', `/rollouts?${qs.toString()}`)).data;
  }
  async get(idOrName: string): Promise<RolloutDetail> {
    return (await this.request(RolloutDetail, 'GET', `/rollouts/${encodeURIComponent(idOrName)}`)).data;
  }
  async devices(
    idOrName: string,
    q: { state?: string; limit?: number; cursor?: string },
  ): Promise<Page<RolloutDevice>> {
    const qs = queryString(q);
    return (
      await this.request(
        Page(RolloutDevice),
        'GET',
        `/rollouts/${encodeURIComponent(idOrName)}/devices?${qs.toString()}`,
      )
    ).data;
  }
  async act(idOrName: string, action: RolloutAction, reason?: string): Promise<RolloutDetail> {
    return (
      await this.request(
        RolloutDetail,
        'POST',
        `/rollouts/${encodeURIComponent(idOrName)}/${action}`,
        reason ? { reason } : {},
      )
    ).data;
  }

  private scopePath(scope: { fleet?: string | undefined; device?: string | undefined }): string {
    if (scope.fleet) return `/fleets/${encodeURIComponent(scope.fleet)}/env`;
    if (scope.device) return `/devices/${encodeURIComponent(scope.device)}/env`;
    throw new HubctlError('say whose variables: --fleet <fleet> or --device <id>');
  }
  async envList(scope: {
    fleet?: string | undefined;
    device?: string | undefined;
  }): Promise<ConfigVariableList> {
    return (await this.request(ConfigVariableList, 'GET', this.scopePath(scope))).data;
  }
  async envEffective(device: string): Promise<EffectiveConfig> {
    return (
      await this.request(EffectiveConfig, 'GET', `/devices/${encodeURIComponent(device)}/env/effective`)
    ).data;
  }
  async envSet(
    scope: { fleet?: string | undefined; device?: string | undefined },
    container: string,
    name: string,
    value: string,
  ): Promise<ConfigChangeResult> {
    return (
      await this.request(
        ConfigChangeResult,
        'PUT',
        `${this.scopePath(scope)}/${encodeURIComponent(container)}/${encodeURIComponent(name)}`,
        { value },
      )
    ).data;
  }
  async envUnset(
    scope: { fleet?: string | undefined; device?: string | undefined },
    container: string,
    name: string,
  ): Promise<ConfigChangeResult> {
    return (
      await this.request(
        ConfigChangeResult,
        'DELETE',
        `${this.scopePath(scope)}/${encodeURIComponent(container)}/${encodeURIComponent(name)}`,
      )
    ).data;
  }
}

function queryString(q: Record<string, string | number | undefined>): URLSearchParams {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) qs.set(k, String(v));
  return qs;
}

/** The rollout API of the hub this run talks to (same credentials as `ctx.hub()`). */
export async function rolloutsApi(ctx: CommandContext): Promise<RolloutsApi> {
  const url = ctx.env.HUBCTL_URL;
  const token = ctx.env.HUBCTL_TOKEN;
  if (url && token) return new RolloutsApi(url, token, ctx.signal);
  if (url || token)
    throw new HubctlError(
      'HUBCTL_URL and HUBCTL_TOKEN must be set together',
      'set both, or unset both and use `hubctl login`',
    );
  const c = await ctx.config.require();
  return new RolloutsApi(c.hubUrl, c.token, ctx.signal);
}

// ---- command-line values ----

/** `90`, `30s`, `10m`, `2h`, `1d` → seconds. */
export const DurationText = z
  .string()
  .regex(/^\d+(s|m|h|d)?$/, { error: 'must be a duration like 90, 30s, 10m, 2h or 1d' })
  .transform((v) => {
    const n = Number.parseInt(v, 10);
    const unit = v.at(-1);
    return unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : unit === 'd' ? n * 86_400 : n;
  });

/** `5%` or `5` → 5 (percent, 0..100). */
export const PercentText = z
  .string()
  .regex(/^\d+(\.\d+)?%?$/, { error: 'must be a percent like 5% or 2.5%' })
  .transform((v) => Number(v.replace('%', '')))
  .pipe(z.number().min(0).max(100, { error: 'must be at most 100%' }));

/** `1,10%,50%,100%` with one bake time for every phase. */
export function phasesFrom(text: string, bakeSeconds: number): Phase[] {
  return text.split(',').map((raw, i) => {
    const item = raw.trim();
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(item);
    if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100) return { percent: Number(pct[1]), bakeSeconds };
    if (/^\d+$/.test(item) && Number(item) > 0) return { count: Number(item), bakeSeconds };
    throw new HubctlError(
      `--phases: phase ${i + 1} "${item}" is neither a device count (5) nor a percent in (0, 100] (10%)`,
      'example: --phases 1,10%,50%,100%',
    );
  });
}

/** One line of a rollout's progress. */
export function progressLine(r: RolloutDetail): string {
  const c = (k: keyof RolloutDetail['counts']) => r.counts[k];
  const total = totalOf(r.counts);
  const failed = c('failed') + c('rolled-back') + c('timed-out');
  return `${r.state}${r.stateReason ? ` (${r.stateReason})` : ''}, phase ${r.currentPhase + 1}/${r.phases.length}: ${c('succeeded')}/${total} succeeded, ${c('dispatched') + c('downloading') + c('installing') + c('testing')} updating, ${failed} failed, ${c('pending')} pending`;
}
