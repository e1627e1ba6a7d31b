import { Controller, Get, Req, Res, Inject } from '@nestjs/common';
import { ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiScope, CurrentUser, roleAtLeast, type UserPrincipal } from '../auth/principal.js';
import { responseSchema } from '../common/openapi.js';
import { ZodQuery, repeatable, type Parsed } from '../common/validation.js';
import { EventBus, HubEvent } from './event-bus.js';

export const EventStreamQuery = z.strictObject({
  fleetId: z.uuid().optional(),
  deviceId: z.uuid().optional(),
  /** Event types to receive (repeatable); all when absent. */
  type: repeatable(z.string().max(64)).optional(),
});
export type EventStreamQuery = z.infer<typeof EventStreamQuery>;

/** Whether this principal may see this event (role, token scopes) and asked for it. */
export function visibleTo(event: HubEvent, who: UserPrincipal, q: EventStreamQuery): boolean {
  if (!roleAtLeast(who.role, event.minRole)) return false;
  if (who.scopes.length > 0 && !who.scopes.includes(event.scope)) return false;
  if (q.fleetId && event.fleetId !== q.fleetId) return false;
  if (q.deviceId && event.deviceId !== q.deviceId) return false;
  if (q.type && q.type.length > 0 && !q.type.includes(event.type)) return false;
  return true;
}

@ApiTags('events')
@ApiScope('events')
@Controller('api/v1/events')
export class EventsController {
  constructor(@Inject(EventBus) private readonly bus: EventBus) {}

  /** Server-sent events: `event: <type>` + `data: <HubEvent JSON>`, a comment every 15 s. */
  @Get()
  @ApiResponse({
    status: 200,
    description:
      'A text/event-stream: each frame is `event: <type>` and `data: <HubEvent as JSON>` (the schema); `: keep-alive` comments every 15 s. Types and their data: docs/hub.md.',
    content: { 'text/event-stream': { schema: responseSchema(HubEvent) as never } },
  })
  stream(
    @ZodQuery(EventStreamQuery) q: Parsed<EventStreamQuery>,
    @CurrentUser() who: UserPrincipal,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): void {
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.write(': connected\n\n');
    const sub = this.bus.events.subscribe({
      next: (event) => {
        if (visibleTo(event, who, q)) raw.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      },
      complete: () => raw.end(),
    });
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
    heartbeat.unref();
    const close = (): void => {
      clearInterval(heartbeat);
      sub.unsubscribe();
    };
    req.raw.on('close', close);
    raw.on('close', close);
  }
}
