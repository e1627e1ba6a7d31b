import { describe, expect, it } from 'vitest';
import { parseBoardDefinition } from '@fleet/board-support';
import qemu from '../../../board-support/boards/qemu-aarch64/board.json' with { type: 'json' };
import { agentRun, rcS, udhcpcScript } from './system-files.js';

function board(json: unknown) {
  const parsed = parseBoardDefinition(json);
  if (!parsed.ok) throw new Error(parsed.issues.join());
  return parsed.value;
}

describe('agent-run', () => {
  it('starts the bundled agent with the config on the data partition', () => {
    expect(agentRun()).toContain(
      '/usr/bin/node --max-semi-space-size=1 --no-sparkplug /opt/fleet/agent/fleet-agent.mjs run --config /etc/fleet/agent.json\n',
    );
  });

  it('idles instead of crash-looping when the image has no agent', () => {
    expect(agentRun()).toMatch(/no agent at \/opt\/fleet\/agent\/fleet-agent\.mjs"\nexec sleep/);
  });
});

describe('rcS', () => {
  it('keeps the machine id on the data partition and writes it atomically', () => {
    const script = rcS(board(qemu));
    expect(script).toContain(
      '/storage/machine-id.tmp && sync && mv /storage/machine-id.tmp /storage/machine-id',
    );
    expect(script.indexOf('/storage/machine-id')).toBeGreaterThan(
      script.indexOf('mount -t ext4 -o rw,noatime,nosuid,nodev /dev/vda4 /storage'),
    );
  });

  it('brings every ethernet interface up with udhcpc and our event script', () => {
    expect(rcS(board(qemu))).toContain('udhcpc -i "${nic##*/}" -s /etc/fleet/udhcpc.script');
    expect(udhcpcScript()).toContain('ip addr add "$ip/${mask:-24}" dev "$interface"');
  });
});
