import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { acceptedConnections, drainConnections, portKey } from './ports.js';

describe('acceptedConnections', () => {
  it('counts the connections a listener of the namespace accepted, not its outgoing ones', async () => {
    // This process's namespace (the host's, so other connections are filtered out by port): a
    // listener, one client connected to it (the client side is an outgoing connection and
    // must not count; the accepted side must).
    const accepted: Socket[] = [];
    const server = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    expect(await acceptedConnections(process.pid, [port])).toBe(0);
    const client = connect({ host: '127.0.0.1', port });
    await new Promise<void>((r) => client.once('connect', r));
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(await acceptedConnections(process.pid, [port])).toBe(1);
    // With ours still open, draining gives up after its bound.
    expect(await drainConnections(process.pid, 50)).toBe(false);
    client.destroy();
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    expect(await acceptedConnections(process.pid, [port])).toBe(0);
  });

  it('reads nothing for a process that does not exist', async () => {
    expect(await acceptedConnections(2 ** 22 + 1)).toBe(0);
  });
});

describe('portKey', () => {
  it('names a published port by host port and protocol', () => {
    expect(portKey({ host: 8080, protocol: 'tcp' })).toBe('8080/tcp');
    expect(portKey({ host: 53, protocol: 'udp' })).toBe('53/udp');
  });
});
