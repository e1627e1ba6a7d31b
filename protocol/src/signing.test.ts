import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';
import { parseReleaseManifest, type ReleaseManifest } from './manifest.js';
import {
  TrustRoot,
  checkSequence,
  generateSigningKey,
  manifestDigest,
  signManifest,
  signingKeyFromPem,
  verifyManifest,
} from './signing.js';
import { aContainer, aRelease } from './testing/builders.js';

function release(): ReleaseManifest {
  const r = parseReleaseManifest(
    aRelease({ containers: { web: aContainer({ start: { cmd: ['httpd'], env: { A: '1', B: '2' } } }) } }),
  );
  if (!r.ok) throw r.error;
  return r.value;
}

/** Rebuilds a JSON value with every object's keys in reverse order. */
function reorder(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reorder);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reorder(x)]),
    );
  return v;
}

/** Every leaf path of a JSON value, for single-field mutations. */
function leaves(v: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, [...path, i]));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [path];
}

function mutate(doc: unknown, path: (string | number)[]): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let at = copy;
  for (const seg of path.slice(0, -1)) at = at[seg] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  const old = at[last];
  at[last] =
    typeof old === 'number'
      ? old + 1
      : typeof old === 'boolean'
        ? !old
        : typeof old === 'string'
          ? `${old}x`
          : 'x';
  return copy;
}

describe('release signatures', () => {
  const key = generateSigningKey('release-2026');
  const signed = signManifest(release(), key);

  it('verify after a JSON round trip with reordered keys', () => {
    const wire = JSON.parse(JSON.stringify(reorder(JSON.parse(JSON.stringify(signed)))));
    expect(Object.keys(wire)[0]).not.toBe(Object.keys(signed)[0]);
    expect(verifyManifest(wire, [key.trustRoot])).toEqual({ ok: true, value: { keyIds: [key.keyId] } });
  });

  it('fail after any single-field change', () => {
    const unsigned = { ...signed, signatures: undefined };
    const paths = leaves(JSON.parse(canonicalJson(unsigned)));
    expect(paths.length).toBeGreaterThan(20);
    for (const path of paths) {
      const tampered = { ...(mutate(unsigned, path) as object), signatures: signed.signatures };
      const r = verifyManifest(tampered, [key.trustRoot]);
      expect(r.ok, `change at ${path.join('.')} went unnoticed`).toBe(false);
      if (!r.ok) expect(r.error.reason).toBe('signature-invalid');
    }
  });

  it('fail when a field is added', () => {
    expect(verifyManifest({ ...signed, notes: 'changed' }, [key.trustRoot]).ok).toBe(false);
    expect(verifyManifest({ ...signed, extra: 1 }, [key.trustRoot]).ok).toBe(false);
  });

  it('need a trusted key: an unknown signer is refused with its key id', () => {
    const stranger = generateSigningKey();
    const r = verifyManifest(signManifest(release(), stranger), [key.trustRoot]);
    expect(r).toMatchObject({ ok: false, error: { reason: 'unknown-signing-key' } });
    expect(!r.ok && r.error.message).toContain(stranger.keyId);
  });

  it('accept any one of several trust roots, and honour a threshold', () => {
    const other = generateSigningKey();
    const both = signManifest(signManifest(release(), key), other);
    expect(verifyManifest(both, [other.trustRoot])).toEqual({ ok: true, value: { keyIds: [other.keyId] } });
    expect(verifyManifest(both, [key.trustRoot, other.trustRoot], 2).ok).toBe(true);
    expect(verifyManifest(signed, [key.trustRoot, other.trustRoot], 2)).toMatchObject({
      ok: false,
      error: { reason: 'signature-invalid' },
    });
  });

  it('refuse a manifest without signatures or that is not an object, without throwing', () => {
    expect(verifyManifest({ ...signed, signatures: [] }, [key.trustRoot])).toMatchObject({
      ok: false,
      error: { reason: 'signature-invalid' },
    });
    expect(verifyManifest('text', [key.trustRoot])).toMatchObject({
      ok: false,
      error: { reason: 'manifest-invalid' },
    });
    expect(
      verifyManifest({ signatures: [{ keyId: key.keyId, alg: 'ed25519', sig: 'not base64 at all!' }] }, [
        key.trustRoot,
      ]).ok,
    ).toBe(false);
    expect(verifyManifest({ a: NaN, signatures: signed.signatures }, [key.trustRoot]).ok).toBe(false);
  });

  it('ignore a trust root that is a small-order point (it would verify a forged all-zero signature)', () => {
    const weak = { keyId: '0123456789abcdef', publicKey: Buffer.alloc(32).toString('base64') };
    const forged = {
      ...release(),
      signatures: [{ keyId: weak.keyId, alg: 'ed25519' as const, sig: Buffer.alloc(64).toString('base64') }],
    };
    expect(verifyManifest(forged, [weak])).toMatchObject({
      ok: false,
      error: { reason: 'unknown-signing-key' },
    });
    expect(TrustRoot.safeParse(weak).success).toBe(false);
  });

  it('re-signing with the same key replaces its signature', () => {
    expect(signManifest(signed, key).signatures).toHaveLength(1);
  });

  it('a key survives a PEM round trip with the same id', () => {
    expect(signingKeyFromPem(key.privateKeyPem).keyId).toBe(key.keyId);
  });

  it('the manifest digest ignores signatures and key order, but not content', () => {
    expect(manifestDigest(signed)).toBe(manifestDigest(release()));
    expect(manifestDigest(reorder(signed) as object)).toBe(manifestDigest(signed));
    expect(manifestDigest({ ...signed, sequence: 2 })).not.toBe(manifestDigest(signed));
  });
});

describe('anti-rollback', () => {
  it.each([
    [null, 1, [], true],
    [4, 5, [], true],
    [4, 4, [], false],
    [4, 3, [], false],
    [4, 3, [3], true],
    [4, 2, [3], false],
  ])('committed %s, candidate %s, stored %j: accepted=%s', (committed, candidate, stored, accepted) => {
    const r = checkSequence({ committed, candidate, storedCommitted: stored });
    expect(r.ok).toBe(accepted);
    if (!r.ok) {
      expect(r.error.reason).toBe('sequence-not-newer');
      expect(r.error.message).toContain(String(candidate));
    }
  });
});
