// `node hub/dist/scripts/migrate.js`: applies the hub's migrations and exits, for a
// Kubernetes pre-install/pre-upgrade Job (deploy/helm). The same runner and advisory lock as a
// starting hub, so a replica starting at the same moment waits instead of racing.
import { runMigrations } from '../database/migration-runner.js';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('migrate: DATABASE_URL is not set (the migration Job needs the external Postgres)');
  process.exit(2);
}
try {
  const r = await runMigrations(url, { log: (line) => console.log(line) });
  console.log(`migrations: ${r.applied.length} applied, ${r.alreadyApplied.length} already applied`);
} catch (error) {
  console.error(`migrate: ${(error as Error).message}`);
  process.exit(1);
}
