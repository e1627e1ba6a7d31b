// `pnpm bench`: runs every package's benchmark script (`bench` in its package.json). Each
// writes JSON under bench/results/ and reports ratios against a reference measured in the
// same run. Benchmarks are not tests: nothing here asserts on time.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';

const only = process.argv.slice(2);
const pkgs = readdirSync('.', { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(`${d.name}/package.json`))
  .map((d) => d.name)
  .filter((name) => JSON.parse(readFileSync(`${name}/package.json`, 'utf8')).scripts?.bench)
  .filter((name) => only.length === 0 || only.includes(name));
if (pkgs.length === 0) console.log('no benchmarks yet');
let failed = 0;
for (const name of pkgs) {
  console.log(`\n== bench: ${name}`);
  const r = spawnSync('pnpm', ['--filter', `./${name}`, 'run', 'bench'], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
