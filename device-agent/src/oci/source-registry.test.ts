import { describe, expect, it } from 'vitest';
import { parseRegistryReference, parseWwwAuthenticate } from './source-registry.js';

describe('registry references', () => {
  it('parses host, repository, tag and digest', () => {
    expect(parseRegistryReference('127.0.0.1:5000/fleet/httpd:v1')).toEqual({
      host: '127.0.0.1:5000',
      repository: 'fleet/httpd',
      tag: 'v1',
    });
    expect(parseRegistryReference('docker://localhost/app')).toEqual({
      host: 'localhost',
      repository: 'app',
      tag: 'latest',
    });
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseRegistryReference(`reg.example:443/a/b@${d}`)).toEqual({
      host: 'reg.example:443',
      repository: 'a/b',
      digest: d,
    });
  });
  it('refuses a reference without an explicit registry host', () => {
    expect(() => parseRegistryReference('library/busybox:latest')).toThrow(/not a registry host/);
    expect(() => parseRegistryReference('busybox')).toThrow(/expected host/);
    expect(() => parseRegistryReference('localhost/Upper')).toThrow(/invalid repository/);
  });
});

describe('WWW-Authenticate', () => {
  it('parses a Bearer challenge', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="http://127.0.0.1:9/token",service="reg",scope="repository:a/b:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'http://127.0.0.1:9/token', service: 'reg', scope: 'repository:a/b:pull' },
    });
  });
  it('parses Basic and unquoted values', () => {
    expect(parseWwwAuthenticate('Basic realm=registry')).toEqual({
      scheme: 'basic',
      params: { realm: 'registry' },
    });
  });
});
