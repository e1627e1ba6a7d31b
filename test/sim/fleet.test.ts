import { parseProvisionRequest } from '@fleet/protocol';
import { expect, it } from 'vitest';
import { provisionRequest } from './fleet.js';

it('a simulated device asks to be provisioned exactly as protocol says, with a key of its own', () => {
  const a = provisionRequest('ct_'.padEnd(20, 'x'), 'sim-1-0', 'qemu-aarch64', '0.1.0');
  const b = provisionRequest('ct_'.padEnd(20, 'x'), 'sim-1-1', 'qemu-aarch64', '0.1.0');
  expect(parseProvisionRequest(a).ok).toBe(true);
  expect(a.publicKey).not.toBe(b.publicKey);
});
