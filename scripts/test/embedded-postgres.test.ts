// The embedded cluster as a newcomer meets it: as root in a clone the `postgres` user cannot
// enter, Postgres runs from a copy of its binaries; a binary that cannot run is an error.
import { readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { packagedPostgres, spawnUntil } from '../lib/embedded-postgres.ts';

describe('embedded postgres', () => {
  it('a binary that cannot be spawned is a rejected promise naming it, not an unhandled error', async () => {
    await expect(spawnUntil('/nonexistent/initdb', [], undefined, () => {}, () => false))
      .rejects.toThrow(/cannot run \/nonexistent\/initdb: spawn \/nonexistent\/initdb ENOENT/);
  });

  it.runIf(!process.env.DATABASE_URL)('runs from a root-owned copy as root, from node_modules otherwise', async () => {
    const c = new pg.Client({ connectionString: process.env.TEST_PG_ADMIN_URL });
    await c.connect();
    try {
      const { rows } = await c.query<{ pid: number }>('select pg_backend_pid() as pid');
      const exe = readlinkSync(`/proc/${rows[0]!.pid}/exe`);
      const { native, version } = await packagedPostgres();
      expect(exe).toBe(
        process.getuid?.() === 0 ? `${tmpdir()}/tg-embedded-postgres-${version}/bin/postgres` : `${native}/bin/postgres`,
      );
    } finally {
      await c.end();
    }
  });
});
