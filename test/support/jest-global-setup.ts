import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STATE_DIR_ENV } from './redis-cluster-servers';

/** Jest global setup: where the run's shared Redis Cluster (started by the first suite needing it) is recorded. */
export default function globalSetup(): void {
  process.env[STATE_DIR_ENV] = mkdtempSync(join(tmpdir(), 'jq-cluster-state-'));
}
