// One owner per boundary (CONVENTIONS 2). The rules below are the enforcement; the test
// scripts/lint-boundaries.test.ts proves each one fires outside its owner and stays quiet inside.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Import restrictions, each with the only places allowed to break it. */
export const boundaries = [
  {
    name: 'prisma',
    regex: '^@prisma/(client|adapter-pg)(/.*)?$|(^|/)generated/prisma(/|$)',
    owners: ['hub/src/**/*.repository.ts', 'hub/src/database/**', 'hub/prisma.config.ts'],
    message: 'Prisma belongs to hub repositories (hub/src/**/*.repository.ts) and hub/src/database/.',
  },
  {
    name: 'koffi',
    regex: '^koffi(/.*)?$',
    owners: ['device-agent/src/runtime/lxc/**'],
    message: 'koffi belongs to device-agent/src/runtime/lxc/ only.',
  },
  {
    name: 'mqtt',
    regex: '^mqtt(/.*)?$',
    // Tests, the simulator and benchmarks need raw clients (to prove broker isolation, to play
    // devices, to load the hub as devices do): each package gets them from its one helper.
    owners: [
      'device-agent/src/link/**',
      'hub/src/mqtt/**',
      'test/support/mqtt-client.ts',
      'hub/test/integration/helpers/mqtt-client.ts',
      'device-agent/test/integration/helpers/mqtt-client.ts',
      'hubctl/test/integration/support/mqtt-client.ts',
      'web/test/integration/support/mqtt-client.ts',
    ],
    message:
      "mqtt belongs to the agent's link/ and the hub's mqtt/ module; tests use their package's mqtt-client.ts helper.",
  },
];

// Topic strings are built only by protocol's topic builders (CONVENTIONS 2).
const topicLiteral = String.raw`/(^|[^a-z])(fleet\/v1\/|\$share\/)/`;
const topicRule = [
  'error',
  {
    selector: `Literal[value=${topicLiteral}]`,
    message: 'MQTT topic strings belong to protocol/ (use its topic builders).',
  },
  {
    selector: `TemplateElement[value.raw=${topicLiteral}]`,
    message: 'MQTT topic strings belong to protocol/ (use its topic builders).',
  },
];

function restrictExcept(except) {
  const active = boundaries.filter((b) => b.name !== except);
  return {
    'no-restricted-imports': [
      'error',
      { patterns: active.map((b) => ({ regex: b.regex, message: b.message })) },
    ],
  };
}

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/build/**',
      '**/coverage/**',
      'hub/src/generated/**',
      'test-artifacts/**',
      'bench/results/**',
      '**/*.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': topicRule,
      ...restrictExcept(null),
    },
  },
  // Each owner may import its own library but still none of the others.
  ...boundaries.map((b) => ({ files: b.owners, rules: restrictExcept(b.name) })),
  { files: ['protocol/src/**'], rules: { 'no-restricted-syntax': 'off' } },
  {
    // Web runs in the browser.
    files: ['web/**/*.{ts,tsx}'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        localStorage: 'readonly',
        EventSource: 'readonly',
        navigator: 'readonly',
      },
    },
  },
);
