import { z } from 'zod';

/** One Progress message of a device, as stored. */
export const UpdateEvent = z.object({
  id: z.string(),
  updateId: z.string(),
  /** protocol ReportedStatus. */
  status: z.string(),
  /** protocol UpdateState. */
  state: z.string(),
  releaseVersion: z.string(),
  revisionDigest: z.string(),
  percent: z.number(),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  failedBootLog: z.string().nullable(),
  at: z.date(),
});
export type UpdateEvent = z.infer<typeof UpdateEvent>;
