// The database side of the Storage stand-in, done the way Supabase's Storage server does it:
// every read and write of storage.objects runs in a transaction as the token's role with its
// claims (request.jwt.claims), so the RLS policies on storage.objects decide, and the service
// role passes them. Buckets are read as the server itself (their limits apply to everyone).
import pg from 'pg';

const ROLES = new Set(['anon', 'authenticated', 'service_role']);

export interface Bucket {
  id: string;
  file_size_limit: string | null;
  allowed_mime_types: string[] | null;
}
export interface ObjectRow {
  id: string;
  bucket_id: string;
  name: string;
  owner_id: string | null;
  metadata: Record<string, unknown> | null;
  version: string | null;
  created_at: Date;
  updated_at: Date;
}

export class StorageDatabase {
  readonly #pool: pg.Pool;

  constructor(dbUrl: string, log: (line: string) => void) {
    this.#pool = new pg.Pool({ connectionString: dbUrl, max: 4, application_name: 'storage-stand-in' });
    this.#pool.on('error', (err) => log(`pool: ${err.message}`));
  }

  async bucket(id: string): Promise<Bucket | undefined> {
    const { rows } = await this.#pool.query<Bucket>(
      'select id, file_size_limit, allowed_mime_types from storage.buckets where id = $1',
      [id],
    );
    return rows[0];
  }

  /** Runs fn as the claims' role; `fn` throwing rolls back (a policy's 42501 included). */
  async as<T>(claims: Record<string, unknown>, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const role = typeof claims.role === 'string' && ROLES.has(claims.role) ? claims.role : 'anon';
    const c = await this.#pool.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`, [
        role,
        JSON.stringify(claims),
      ]);
      const result = await fn(c);
      await c.query('commit');
      return result;
    } catch (err) {
      await c.query('rollback').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}

/** Inserts (or with upsert replaces) an object row as Storage does on upload. */
export async function putObject(
  c: pg.PoolClient,
  o: { bucket: string; name: string; owner: string | null; metadata: object; upsert: boolean },
): Promise<ObjectRow> {
  const { rows } = await c.query<ObjectRow>(
    `insert into storage.objects (bucket_id, name, owner, owner_id, metadata, version)
     values ($1, $2, $3::uuid, $3, $4, gen_random_uuid()::text)
     ${
      o.upsert
        ? `on conflict (bucket_id, name) do update set metadata = excluded.metadata, version = excluded.version,
       owner = excluded.owner, owner_id = excluded.owner_id, updated_at = now()`
        : ''
    }
     returning *`,
    [o.bucket, o.name, o.owner, o.metadata],
  );
  return rows[0]!;
}

export async function findObject(c: pg.PoolClient, bucket: string, name: string): Promise<ObjectRow | undefined> {
  const { rows } = await c.query<ObjectRow>('select * from storage.objects where bucket_id = $1 and name = $2', [bucket, name]);
  return rows[0];
}

export async function deleteObjects(c: pg.PoolClient, bucket: string, names: string[]): Promise<ObjectRow[]> {
  const { rows } = await c.query<ObjectRow>(
    'delete from storage.objects where bucket_id = $1 and name = any ($2::text[]) returning *',
    [bucket, names],
  );
  return rows;
}
