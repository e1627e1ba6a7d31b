export type ConfigScopeType = 'fleet' | 'device';

export interface ConfigVariable {
  scopeType: ConfigScopeType;
  scopeId: string;
  container: string;
  name: string;
  value: string;
  updatedAt: Date;
  updatedBy: string;
}

export interface ConfigVariableList {
  scopeType: ConfigScopeType;
  scopeId: string;
  /** The scope's own version counter. */
  version: number;
  variables: ConfigVariable[];
}

/** What a device receives: fleet variables overlaid with its own (Target.config, configVersion). */
export interface EffectiveConfig {
  deviceId: string;
  config: Record<string, Record<string, string>>;
  configVersion: number;
}
