// JSON lines between the agent and its starter process (one request per line, one reply per line).
import { z } from 'zod';

export const StartRequest = z.object({
  id: z.number().int(),
  lxcpath: z.string().min(1),
  name: z.string().min(1),
  argv: z.array(z.string()).min(1),
});
export type StartRequest = z.infer<typeof StartRequest>;

export const StartReply = z.object({
  id: z.number().int(),
  ok: z.boolean(),
  error: z.string().optional(),
  initPid: z.number().int().optional(),
});
export type StartReply = z.infer<typeof StartReply>;

export const StarterHello = z.object({
  hello: z.literal('fleet-lxc-starter'),
  lxcVersion: z.string(),
  pid: z.number().int(),
});
export type StarterHello = z.infer<typeof StarterHello>;
