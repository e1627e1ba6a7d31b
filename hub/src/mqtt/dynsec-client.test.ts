import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  classifyDynsecError,
  DYNSEC_REQUEST_TOPIC,
  DynsecClient,
  DynsecError,
  type DynsecTransport,
} from './dynsec-client.js';

/** Plays the broker: captures requests; the test answers them in any order. */
class FakeControlTopic implements DynsecTransport {
  readonly requests: { commands: { command: string; correlationData: string }[] }[] = [];
  #handler: ((payload: Buffer) => void) | undefined;
  async publish(topic: string, payload: string): Promise<void> {
    expect(topic).toBe(DYNSEC_REQUEST_TOPIC);
    this.requests.push(JSON.parse(payload));
  }
  onResponse(handler: (payload: Buffer) => void): () => void {
    this.#handler = handler;
    return () => (this.#handler = undefined);
  }
  answer(responses: unknown): void {
    this.#handler?.(Buffer.from(typeof responses === 'string' ? responses : JSON.stringify({ responses })));
  }
}

describe('DynsecClient', () => {
  afterEach(() => vi.useRealTimers());

  test('matches responses by correlation data, whatever order and company they arrive in', async () => {
    const topic = new FakeControlTopic();
    const client = new DynsecClient(topic);
    const first = client.execute([{ command: 'createRole', rolename: 'a' }]);
    const second = client.execute([
      { command: 'createClient', username: 'u' },
      { command: 'addClientRole', username: 'u', rolename: 'a' },
    ]);
    await Promise.resolve();
    const [r1, r2] = topic.requests;
    const c1 = r1!.commands[0]!.correlationData;
    const [c2a, c2b] = r2!.commands.map((c) => c.correlationData);
    topic.answer('not json at all');
    topic.answer([{ command: 'createRole', correlationData: 'someone-else' }]);
    topic.answer([
      { command: 'addClientRole', correlationData: c2b },
      { command: 'createClient', error: 'Client already exists', correlationData: c2a },
    ]);
    topic.answer([{ command: 'createRole', correlationData: c1 }]);
    expect(await first).toEqual([{ command: 'createRole', correlationData: c1 }]);
    expect((await second).map((r) => r.error)).toEqual(['Client already exists', undefined]);
  });

  test('run throws the first refusal as a classified DynsecError', async () => {
    const topic = new FakeControlTopic();
    const client = new DynsecClient(topic);
    const running = client.run([{ command: 'deleteClient', username: 'x' }]);
    await Promise.resolve();
    topic.answer([
      {
        command: 'deleteClient',
        error: 'Client not found',
        correlationData: topic.requests[0]!.commands[0]!.correlationData,
      },
    ]);
    await expect(running).rejects.toMatchObject({
      name: 'DynsecError',
      kind: 'not-found',
      command: 'deleteClient',
      brokerMessage: 'Client not found',
    });
  });

  test('a command with no answer fails with a timeout, and close fails the rest', async () => {
    vi.useFakeTimers();
    const topic = new FakeControlTopic();
    const client = new DynsecClient(topic, { timeoutMs: 500 });
    const lost = client.execute([{ command: 'getClient', username: 'x' }]);
    const check = expect(lost).rejects.toMatchObject({ kind: 'timeout' });
    await vi.advanceTimersByTimeAsync(500);
    await check;
    const pending = client.execute([{ command: 'getRole', rolename: 'r' }]);
    client.close();
    await expect(pending).rejects.toBeInstanceOf(DynsecError);
  });

  test.each([
    ['Client already exists', 'already-exists'],
    ['Role already exists', 'already-exists'],
    ['Client not found', 'not-found'],
    ['Role not found', 'not-found'],
    ['Unknown command', 'invalid'],
    ['Invalid/missing username', 'invalid'],
    ['Internal error', 'rejected'],
  ] as const)('maps "%s" to %s', (message, kind) => {
    expect(classifyDynsecError(message)).toBe(kind);
  });
});
