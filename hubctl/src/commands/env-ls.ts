import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { HubctlError } from '../cli/errors.js';
import { table, when } from '../cli/format.js';
import { FleetRef, Uuid } from './inputs.js';
import { rolloutsApi } from './rollouts-api.js';

export const Scope = z
  .object({ fleet: FleetRef.optional(), device: Uuid.optional() })
  .refine((s) => (s.fleet === undefined) !== (s.device === undefined), {
    error: 'give exactly one of --fleet <fleet> or --device <id>',
  });

export default defineCommand({
  path: ['env', 'ls'],
  summary: "List a fleet's or a device's configuration variables (--effective: what the device receives).",
  options: [
    { flags: '--fleet <fleet>', description: 'fleet variables (name or id)' },
    { flags: '--device <id>', description: 'device variables (override the fleet)' },
    { flags: '--effective', description: 'with --device: fleet and device variables merged, as delivered' },
  ],
  json: true,
  input: z
    .object({ fleet: FleetRef.optional(), device: Uuid.optional(), effective: z.boolean().default(false) })
    .and(Scope),
  async run(input, ctx) {
    const api = await rolloutsApi(ctx);
    if (input.effective) {
      if (!input.device) throw new HubctlError('--effective needs --device <id>');
      const e = await api.envEffective(input.device);
      const rows = Object.entries(e.config).flatMap(([c, vars]) =>
        Object.entries(vars).map(([k, v]) => [c, k, v]),
      );
      return {
        data: e,
        text: `config version ${e.configVersion}\n${table(['CONTAINER', 'NAME', 'VALUE'], rows)}`,
      };
    }
    const l = await api.envList({ fleet: input.fleet, device: input.device });
    return {
      data: l,
      text:
        l.variables.length === 0
          ? `no variables (version ${l.version})\n`
          : `version ${l.version}\n${table(
              ['CONTAINER', 'NAME', 'VALUE', 'UPDATED', 'BY'],
              l.variables.map((v) => [v.container, v.name, v.value, when(v.updatedAt), v.updatedBy]),
            )}`,
    };
  },
});
