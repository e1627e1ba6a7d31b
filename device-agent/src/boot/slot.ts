import { z } from 'zod';

/** An A/B system slot. The letters are persisted in the U-Boot environment: never rename. */
export const Slot = z.enum(['A', 'B']);
export type Slot = z.infer<typeof Slot>;

export function otherSlot(slot: Slot): Slot {
  return slot === 'A' ? 'B' : 'A';
}
