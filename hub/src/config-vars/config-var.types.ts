import {
  ConfigChangeResult as ApiConfigChangeResult,
  ConfigVariable as ApiConfigVariable,
  ConfigVariableList as ApiConfigVariableList,
} from '@fleet/protocol';
import { z } from 'zod';

// protocol's configuration answers (decision 0091) with `updatedAt` a Date.
export { ConfigScopeType, EffectiveConfig } from '@fleet/protocol';

export const ConfigVariable = ApiConfigVariable.extend({ updatedAt: z.date() });
export type ConfigVariable = z.infer<typeof ConfigVariable>;

export const ConfigVariableList = ApiConfigVariableList.extend({ variables: z.array(ConfigVariable) });
export type ConfigVariableList = z.infer<typeof ConfigVariableList>;

/** `PUT`/`DELETE .../env/:container/:name`: the list after the change, and its delivery. */
export const ConfigChangeResult = ApiConfigChangeResult.extend({ variables: z.array(ConfigVariable) });
export type ConfigChangeResult = z.infer<typeof ConfigChangeResult>;
