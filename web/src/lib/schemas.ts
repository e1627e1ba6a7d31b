import { z } from 'zod';

// The hub's answers have their schemas in @fleet/protocol/browser (api/); this is what the
// dashboard adds.

/** For 204 answers. */
export const NoContent = z.unknown();
