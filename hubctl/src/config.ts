import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { HubctlError } from './cli/errors.js';

/** What `hubctl login` stores. The token is a secret: the file is written with mode 0600. */
export const HubctlConfig = z.object({
  hubUrl: z.url(),
  token: z.string().min(1),
  /** Key id `release create` signs with when `--key` is not given. */
  defaultKey: z.string().optional(),
});
export type HubctlConfig = z.infer<typeof HubctlConfig>;

/** `$HUBCTL_CONFIG`, else `$XDG_CONFIG_HOME/fleet/hubctl.json`, else `~/.config/fleet/hubctl.json`. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.HUBCTL_CONFIG) return env.HUBCTL_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'fleet', 'hubctl.json');
}

/** Local state next to the config file: release signing keys live in `<dir>/keys/`. */
export class ConfigStore {
  constructor(readonly path: string) {}

  get dir(): string {
    return dirname(this.path);
  }

  async read(): Promise<HubctlConfig | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new HubctlError(`cannot read ${this.path}: ${(e as Error).message}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HubctlError(`${this.path} is not valid JSON`, 'run `hubctl login` again to rewrite it');
    }
    const r = HubctlConfig.safeParse(raw);
    if (!r.success)
      throw new HubctlError(
        `${this.path} is not a hubctl config (${r.error.issues.map((i) => `${i.path.join('.') || '$'}: ${i.message}`).join('; ')})`,
        'run `hubctl login` again to rewrite it',
      );
    return r.data;
  }

  /** Must be logged in: the config, or an error telling how to log in. */
  async require(): Promise<HubctlConfig> {
    const c = await this.read();
    if (!c)
      throw new HubctlError(
        `not logged in (no ${this.path})`,
        'run `hubctl login --url <hub url> --token <API token>`',
      );
    return c;
  }

  /** Atomic (temp file + rename), created 0600 so the token is never readable by others, even briefly. */
  async write(config: HubctlConfig): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.path);
  }
}
