import { z } from 'zod';
import { ApiDate } from './common.js';

// Configuration variables (`/fleets/:fleet/env`, `/devices/:id/env`) and the fleet's
// maintenance window (hub/src/config-vars).

export const ConfigScopeType = z.enum(['fleet', 'device']);
export type ConfigScopeType = z.infer<typeof ConfigScopeType>;

export const ConfigVariable = z.object({
  scopeType: ConfigScopeType,
  scopeId: z.string(),
  container: z.string(),
  name: z.string(),
  value: z.string(),
  updatedAt: ApiDate,
  updatedBy: z.string(),
});
export type ConfigVariable = z.infer<typeof ConfigVariable>;

/** `GET .../env`: one scope's variables and its version counter. */
export const ConfigVariableList = z.object({
  scopeType: ConfigScopeType,
  scopeId: z.string(),
  version: z.number().int(),
  variables: z.array(ConfigVariable),
});
export type ConfigVariableList = z.infer<typeof ConfigVariableList>;

/** `PUT`/`DELETE .../env/:container/:name`: the list after the change, and its delivery. */
export const ConfigChangeResult = ConfigVariableList.extend({
  /** Devices sent their new target at once. */
  delivered: z.number().int(),
  /** Devices that get it when they come back online. */
  waiting: z.number().int(),
});
export type ConfigChangeResult = z.infer<typeof ConfigChangeResult>;

/** `GET /devices/:id/env/effective`: fleet variables overlaid with the device's own. */
export const EffectiveConfig = z.object({
  deviceId: z.string(),
  /** container → variable → value. */
  config: z.record(z.string(), z.record(z.string(), z.string())),
  configVersion: z.number().int(),
});
export type EffectiveConfig = z.infer<typeof EffectiveConfig>;

export const SetVariableRequest = z.object({ value: z.string() });
export type SetVariableRequest = z.input<typeof SetVariableRequest>;
