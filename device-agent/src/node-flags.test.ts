import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AGENT_NODE_FLAGS } from './node-flags.js';

describe('AGENT_NODE_FLAGS', () => {
  it('are the flags the device image starts the agent with (images agent-run)', async () => {
    // The image builder writes the launcher; the benchmark measures with AGENT_NODE_FLAGS. A
    // flag changed on one side only would make the measured idle memory not the device's.
    const launcher = await readFile(
      new URL('../../images/src/builder/system-files.ts', import.meta.url),
      'utf8',
    );
    expect(launcher).toContain(
      `/usr/bin/node ${AGENT_NODE_FLAGS.join(' ')} /opt/fleet/agent/fleet-agent.mjs run`,
    );
  });

  it('are flags this node accepts (an unknown flag stops node before the agent starts)', () => {
    const r = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, '-e', 'process.stdout.write("ok")'], {
      encoding: 'utf8',
    });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
      status: 0,
      stdout: 'ok',
      stderr: '',
    });
  });
});
