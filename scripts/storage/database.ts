// The database side of the Storage stand-in, done the way Supabase's Storage server does it:
// every read and write of storage.objects runs in a transaction as the token's role with its
// claims (request.jwt.claims), so the RLS policies on storage.objects decide, and the service
// role passes them. Buckets are read as the server itself (their limits apply to everyone), and
// so are an upload's file facts written, as hosted Storage writes them (supabase/storage,
// src/storage/uploader.ts: the caller's permission is tested with its role, then the row is
// upserted with the metadata by the server): the database lets no API role set them.
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

  /** Bytes the user owning `name` may still store in the bucket (the product's quota); null: no quota. */
  async bytesLeft(bucket: string, name: string): Promise<number | null> {
    const { rows } = await this.#pool.query<{ bytes: string | null }>(
      `select q.bytes from (select private.media_object_owner($2, null) as owner) w
      cross join lateral private.media_quota_left(w.owner, $2) q
      where $1 = 'campaign-media' and w.owner is not null`,
      [bucket, name],
    );
    return rows[0]?.bytes == null ? null : Number(rows[0].bytes);
  }

  /** Runs fn as the claims' role; `fn` throwing rolls back (a policy's 42501 included). */
  as<T>(claims: Record<string, unknown>, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#transaction(claims, fn, 'commit');
  }

  /** Runs fn as the claims' role and rolls back: may the caller do it? */
  test<T>(claims: Record<string, unknown>, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#transaction(claims, fn, 'rollback');
  }

  async #transaction<T>(claims: Record<string, unknown>, fn: (c: pg.PoolClient) => Promise<T>, end: string): Promise<T> {
    const role = typeof claims.role === 'string' && ROLES.has(claims.role) ? claims.role : 'anon';
    const c = await this.#pool.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`, [
        role,
        JSON.stringify(claims),
      ]);
      const result = await fn(c);
      await c.query(end);
      return result;
    } catch (err) {
      await c.query('rollback').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  /** The object's row as the caller (the policies decide), without file facts; upsert keeps an existing one. */
  async claimRow(c: pg.PoolClient, o: { bucket: string; name: string; owner: string | null }, upsert: boolean) {
    const { rows } = await c.query<ObjectRow>(
      `insert into storage.objects (bucket_id, name, owner, owner_id) values ($1, $2, $3::uuid, $3)
      ${upsert ? 'on conflict (bucket_id, name) do update set updated_at = now()' : ''}
      returning *`,
      [o.bucket, o.name, o.owner],
    );
    return rows[0]!;
  }

  /** The stored file's facts, written as the server (in the caller's transaction). */
  async writeFacts(c: pg.PoolClient, id: string, metadata: object, owner: string | null): Promise<ObjectRow> {
    await c.query('set local role none');
    const { rows } = await c.query<ObjectRow>(
      `update storage.objects set metadata = $2, version = gen_random_uuid()::text, owner = $3::uuid, owner_id = $3,
      updated_at = now() where id = $1 returning *`,
      [id, metadata, owner],
    );
    return rows[0]!;
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
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
