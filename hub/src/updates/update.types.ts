import { UpdateEvent as ApiUpdateEvent } from '@fleet/protocol';
import { z } from 'zod';

/** One Progress message of a device, as stored: protocol's UpdateEvent with `at` a Date. */
export const UpdateEvent = ApiUpdateEvent.extend({ at: z.date() });
export type UpdateEvent = z.infer<typeof UpdateEvent>;
