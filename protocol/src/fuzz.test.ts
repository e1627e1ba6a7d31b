// Property-based fuzz over every parser: whatever arrives, a parser returns a Result (never
// throws), and a failure is a ProtocolError whose issues name a JSON path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBoardDefinition } from './board.js';
import { parseJsonText } from './canonical-json.js';
import { parseDigest, parseObjectUrl } from './digest.js';
import { parseContainerSpec, parseReleaseManifest, parseRevisionManifest } from './manifest.js';
import { decodeMessage, encodeMessage } from './mqtt/messages.js';
import { parseTopic, TOPIC_KINDS } from './mqtt/topics.js';
import { parseAgentConfig, parseProvisionRequest, parseProvisionResponse } from './provisioning.js';
import { ProtocolError, type Result } from './result.js';
import { generateSigningKey, verifyManifest } from './signing.js';
import { aContainer, aRelease, aRevision } from './testing/builders.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

function wellFormed(r: Result<unknown>): boolean {
  if (r.ok) return true;
  return (
    r.error instanceof ProtocolError &&
    r.error.issues.length > 0 &&
    r.error.issues.every((i) => i.path.startsWith('$') && i.message.length > 0)
  );
}

/** A valid document with one random leaf replaced by an arbitrary value, or one key deleted. */
function mutated(base: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
    else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => walk(x, [...p, k]));
  };
  walk(base, []);
  return fc
    .tuple(fc.constantFrom(...paths), fc.anything({ maxDepth: 3 }), fc.boolean())
    .map(([path, value, del]) => {
      if (path.length === 0) return value;
      const copy = structuredClone(base) as Record<string | number, unknown>;
      let at = copy;
      for (const seg of path.slice(0, -1)) at = at[seg] as Record<string | number, unknown>;
      const last = path[path.length - 1]!;
      if (del && !Array.isArray(at)) delete at[last];
      else at[last] = value;
      return copy;
    });
}

const anyInput = fc.oneof(
  fc.anything({ maxDepth: 4, withNullPrototype: true, withBigInt: true }),
  fc.jsonValue(),
);

const parsers: [string, (x: unknown) => Result<unknown>, unknown][] = [
  ['RevisionManifest', parseRevisionManifest, aRevision()],
  ['ReleaseManifest', parseReleaseManifest, aRelease()],
  [
    'ContainerSpec',
    parseContainerSpec,
    aContainer({ volumes: [{ name: 'd', path: '/d', persistence: 'permanent' }] }),
  ],
  [
    'AgentConfig',
    parseAgentConfig,
    { hubUrl: 'http://h', board: 'qemu-aarch64', claimToken: 'x'.repeat(20) },
  ],
  [
    'ProvisionRequest',
    parseProvisionRequest,
    {
      claimToken: 'x'.repeat(20),
      hardwareId: 'h',
      publicKey: `${'A'.repeat(43)}=`,
      board: 'b',
      agentVersion: '1.0.0',
    },
  ],
  [
    'ProvisionResponse',
    parseProvisionResponse,
    {
      deviceId: 'd',
      fleetId: 'f',
      mqtt: { url: 'mqtt://h', username: 'u', password: 'p', clientId: 'c' },
      objectBaseUrl: 'http://h/o',
    },
  ],
  ['Digest', parseDigest, `sha256:${'a'.repeat(64)}`],
  ['ObjectUrl', (x) => parseObjectUrl(x as string), `http://h/sha256/${'a'.repeat(64)}`],
  ['Topic', parseTopic, 'fleet/v1/devices/d/report'],
];

// 10,000 runs per property: generous timeouts, the CI machine may be busy.
describe('fuzz: parsers never throw and always name a path', { timeout: 120_000 }, () => {
  it.each(parsers)('%s on arbitrary values', (_name, parse) => {
    fc.assert(
      fc.property(anyInput, (x) => wellFormed(parse(x))),
      { numRuns: RUNS },
    );
  });

  it.each(parsers)('%s on mutations of a valid document', (_name, parse, valid) => {
    expect(parse(valid).ok).toBe(true);
    fc.assert(
      fc.property(mutated(valid), (x) => wellFormed(parse(x))),
      { numRuns: RUNS },
    );
  });

  it('BoardDefinition on arbitrary values', () => {
    fc.assert(
      fc.property(anyInput, (x) => wellFormed(parseBoardDefinition(x))),
      { numRuns: RUNS },
    );
  });

  it('parseJsonText on arbitrary and near-JSON text agrees with JSON.parse or names a path', () => {
    const text = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify(v).slice(1)),
    );
    fc.assert(
      fc.property(text, (t) => {
        const r = parseJsonText(t);
        let expected: unknown;
        try {
          expected = JSON.parse(t);
        } catch {
          return !r.ok && wellFormed(r);
        }
        // JSON.parse keeps duplicates; ours refuses them. Otherwise both agree.
        return r.ok
          ? JSON.stringify(r.value) === JSON.stringify(expected)
          : r.error.issues[0]?.code === 'duplicate_key';
      }),
      { numRuns: RUNS },
    );
  });

  it.each(TOPIC_KINDS)('decodeMessage(%s) on arbitrary payloads and mutated envelopes', (kind) => {
    const enc = encodeMessage('ack', { commandId: 'c', status: 'done' });
    if (!enc.ok) throw enc.error;
    const envelope = { ...enc.value.envelope, kind } as unknown;
    const payloads = fc.oneof(
      fc.string().map((s) => Buffer.from(s)),
      fc.uint8Array({ maxLength: 256 }),
      anyInput.map((v) => {
        try {
          return JSON.stringify(v) ?? 'null';
        } catch {
          return 'null';
        }
      }),
      mutated(envelope).map((v) => {
        try {
          return JSON.stringify(v) ?? 'null';
        } catch {
          return 'null';
        }
      }),
    );
    fc.assert(
      fc.property(payloads, (p) => wellFormed(decodeMessage(kind, p))),
      { numRuns: RUNS },
    );
  });

  it('verifyManifest never throws and never accepts arbitrary input', () => {
    const key = generateSigningKey();
    // Weak keys are in the list on purpose: they must not make forged signatures pass.
    const roots = [key.trustRoot, { keyId: '0123456789abcdef', publicKey: `${'A'.repeat(43)}=` }];
    fc.assert(
      fc.property(
        fc.oneof(
          anyInput,
          mutated({
            ...aRelease(),
            signatures: [
              { keyId: '0123456789abcdef', alg: 'ed25519', sig: `${'A'.repeat(86)}==` },
              { keyId: key.keyId, alg: 'ed25519', sig: `${'B'.repeat(86)}==` },
            ],
          }),
        ),
        (m) => {
          const r = verifyManifest(m, roots);
          return !r.ok && typeof r.error.message === 'string';
        },
      ),
      { numRuns: RUNS },
    );
  });
});
