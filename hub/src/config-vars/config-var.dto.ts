import { ContainerName, MaintenanceWindow } from '@fleet/protocol';
import { z } from 'zod';

/** Variable names as an environment takes them. */
export const VariableName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: 'a variable name is letters, digits and _, not starting with a digit',
  });
export type VariableName = z.infer<typeof VariableName>;

export const SetVariableRequest = z.strictObject({ value: z.string().max(16 * 1024) });
export type SetVariableRequest = z.infer<typeof SetVariableRequest>;

export const VariablePath = z.strictObject({ container: ContainerName, name: VariableName });
export type VariablePath = z.infer<typeof VariablePath>;

export { MaintenanceWindow };
