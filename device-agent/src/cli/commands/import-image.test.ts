import { describe, expect, it } from 'vitest';
import { absoluteRef } from './import-image.js';

describe('absoluteRef', () => {
  it.each([
    ['oci:img', '/home/op/img'],
    ['oci:img:latest', '/home/op/img:latest'],
    ['oci:/abs/img:v1', '/abs/img:v1'],
    ['docker-archive:x.tar', '/home/op/x.tar'],
    ['docker-archive:x.tar:fleet/httpd:latest', '/home/op/x.tar:fleet/httpd:latest'],
  ])('makes the path of %s absolute, keeping the tag', (ref, path) => {
    expect(absoluteRef(ref, '/home/op')).toBe(`${ref.split(':')[0]}:${path}`);
  });

  it('leaves registry references alone', () => {
    expect(absoluteRef('127.0.0.1:5000/fleet/httpd:1', '/home/op')).toBe('127.0.0.1:5000/fleet/httpd:1');
  });
});
