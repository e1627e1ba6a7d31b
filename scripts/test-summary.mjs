// Prints the test run's summary and fails when a test was skipped or left todo: in CI a
// skipped test proves nothing, and a suite that skipped itself because a tool was missing
// hides a broken set-up.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const file = process.argv[2] ?? 'test-artifacts/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`test summary: cannot read ${file}: ${e.message}`);
  process.exit(1);
}
const skipped = [];
const perProject = new Map();
for (const suite of report.testResults ?? []) {
  for (const t of suite.assertionResults ?? []) {
    const project = relative(process.cwd(), suite.name).split('/')[0] || 'root';
    const row = perProject.get(project) ?? { passed: 0, failed: 0, skipped: 0 };
    if (t.status === 'passed') row.passed++;
    else if (t.status === 'failed') row.failed++;
    else {
      row.skipped++;
      skipped.push(`${suite.name}: ${t.fullName} (${t.status})`);
    }
    perProject.set(project, row);
  }
}
console.log('\ntest summary');
for (const [p, r] of [...perProject].sort())
  console.log(`  ${p.padEnd(16)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
console.log(
  `  total            ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + report.numTodoTests} skipped/todo; ` +
    `${report.numFailedTestSuites} failed file(s) of ${report.numTotalTestSuites}`,
);
if (skipped.length) {
  console.error(`\n${skipped.length} skipped or todo test(s):\n  ${skipped.join('\n  ')}`);
  process.exit(1);
}
if (!report.success) process.exit(1);
