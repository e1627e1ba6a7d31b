import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../../lib/api-client.js';
import { aCommand, uuid } from '../../../test/builders.js';
import { FakeHub, type RecordedRequest } from '../../../test/fake-hub.js';
import { sendBulkCommand } from './send-command.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => uuid(200000 + i));

/** Answers every id as sent, except the chunk whose first id is `refuse`: a 403 for all of it. */
function bulkHub(refuse?: string) {
  return new FakeHub().on('POST /api/v1/devices/commands', (req: RecordedRequest) => {
    const { deviceIds } = req.body as { deviceIds: string[] };
    if (deviceIds[0] === refuse)
      return { status: 403, body: { statusCode: 403, message: 'this token may not send commands' } };
    return deviceIds.map((deviceId) => ({ deviceId, command: aCommand({ deviceId }), error: null }));
  });
}

describe('sendBulkCommand', () => {
  it('sends a selection over the hub limit in chunks of 1000', async () => {
    const hub = bulkHub();
    const all = ids(2500);
    const r = await sendBulkCommand(new ApiClient({ fetch: hub.fetch }), all, { kind: 'reboot' });
    expect(r).toEqual({ sent: 2500, failed: [] });
    const bodies = hub
      .calls('POST', '/api/v1/devices/commands')
      .map((c) => c.body as { deviceIds: string[] });
    expect(bodies.map((b) => b.deviceIds.length)).toEqual([1000, 1000, 500]);
    expect(bodies.flatMap((b) => b.deviceIds)).toEqual(all);
  });

  it('counts every device of a refused chunk as failed with the hub message, and sends the rest', async () => {
    const all = ids(1500);
    const hub = bulkHub(all[1000]);
    const r = await sendBulkCommand(new ApiClient({ fetch: hub.fetch }), all, { kind: 'reboot' });
    expect(r.sent).toBe(1000);
    expect(r.failed).toHaveLength(500);
    expect(r.failed[0]).toEqual({ deviceId: all[1000], message: 'this token may not send commands' });
  });

  it('sends nothing for an empty selection', async () => {
    const hub = bulkHub();
    expect(await sendBulkCommand(new ApiClient({ fetch: hub.fetch }), [], { kind: 'reboot' })).toEqual({
      sent: 0,
      failed: [],
    });
    expect(hub.requests).toEqual([]);
  });
});
