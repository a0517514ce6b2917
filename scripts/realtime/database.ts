// The database side of the Realtime stand-in, done the way Supabase's Realtime does it:
//  - authorization of a private topic: in a transaction that is rolled back, insert a probe
//    message for the topic, switch to the user's role with request.jwt.claims and realtime.topic
//    set, and see whether the RLS policies on realtime.messages let the user read it;
//  - broadcast replay: the latest `limit` private broadcast messages of a topic since a time;
//  - delivery: the rows realtime.send() wrote, announced by its NOTIFY (see scripts/lib/baseline.sql)
//    at commit, fetched by id.
import pg from 'pg';

export interface StoredMessage {
  id: string;
  topic: string;
  event: string;
  payload: unknown;
  private: boolean;
}

const NOTIFY_CHANNEL = 'realtime_messages';
/** Few connections: joins and replays are short; the listener has its own. */
export const POOL_SIZE = 3;
const ROLES = new Set(['anon', 'authenticated', 'service_role']);

export class RealtimeDatabase {
  private readonly pool: pg.Pool;
  private readonly dbUrl: string;
  private readonly log: (line: string) => void;
  private listener: pg.Client | undefined;
  private closed = false;

  constructor(dbUrl: string, log: (line: string) => void) {
    this.dbUrl = dbUrl;
    this.log = log;
    this.pool = new pg.Pool({ connectionString: dbUrl, max: POOL_SIZE, application_name: 'realtime-stand-in' });
    this.pool.on('error', (err) => log(`pool: ${err.message}`));
  }

  /** True if the RLS policies on realtime.messages let these claims read `topic` (Realtime's check). */
  async canRead(topic: string, claims: Record<string, unknown>): Promise<boolean> {
    const role = typeof claims.role === 'string' && ROLES.has(claims.role) ? claims.role : 'anon';
    const c = await this.pool.connect();
    try {
      await c.query('begin');
      const probe = await c.query<{ id: string }>(
        `insert into realtime.messages (topic, extension, private, payload, event)
         values ($1, 'broadcast', true, '{}'::jsonb, null) returning id`,
        [topic],
      );
      await c.query(
        `select set_config('role', $1, true), set_config('realtime.topic', $2, true),
        set_config('request.jwt.claims', $3, true), set_config('request.jwt.claim.sub', $4, true),
        set_config('request.jwt.claim.role', $1, true)`,
        [role, topic, JSON.stringify(claims), String(claims.sub ?? '')],
      );
      const seen = await c.query('select 1 from realtime.messages where id = $1 and topic = $2', [probe.rows[0]!.id, topic]);
      return seen.rowCount === 1;
    } catch (err) {
      // e.g. anon has no grant on realtime.messages: "permission denied" means "may not read".
      if ((err as { code?: string }).code !== '42501') this.log(`authorization of ${topic} failed: ${(err as Error).message}`);
      return false;
    } finally {
      await c.query('rollback').catch(() => {});
      c.release();
    }
  }

  /** Realtime's replay: the last `limit` private broadcasts of `topic` since `sinceMs`, oldest first. */
  async replay(topic: string, sinceMs: number, limit: number): Promise<StoredMessage[]> {
    const { rows } = await this.pool.query<StoredMessage>(
      `select id::text, topic, event, payload, private from realtime.messages
       where topic = $1 and private and extension = 'broadcast' and event is not null
         and inserted_at >= to_timestamp($2::double precision / 1000)
       order by inserted_at desc, id desc limit $3`,
      [topic, sinceMs, limit],
    );
    return rows.reverse();
  }

  private async fetch(ids: string[]): Promise<StoredMessage[]> {
    const { rows } = await this.pool.query<StoredMessage>(
      `select id::text, topic, event, payload, private from realtime.messages
       where id = any($1::bigint[]) and extension = 'broadcast' order by id`,
      [ids],
    );
    return rows;
  }

  /** Calls onMessage with each message realtime.send() commits, until close(). Reconnects. */
  async listen(onMessage: (m: StoredMessage) => void): Promise<void> {
    let pending: string[] = [];
    let flushing = false;
    const flush = async () => {
      if (flushing) return;
      flushing = true;
      try {
        while (pending.length) {
          const ids = pending;
          pending = [];
          for (const m of await this.fetch(ids)) onMessage(m);
        }
      } catch (err) {
        this.log(`fetching messages failed: ${(err as Error).message}`);
      } finally {
        flushing = false;
      }
    };
    const connect = async (): Promise<void> => {
      const client = new pg.Client({ connectionString: this.dbUrl, application_name: 'realtime-stand-in-listener' });
      client.on('notification', (n) => {
        if (n.channel !== NOTIFY_CHANNEL || !n.payload) return;
        pending.push(n.payload);
        void flush();
      });
      client.on('error', (err) => this.log(`listener: ${err.message}`));
      client.on('end', () => {
        if (this.closed) return;
        this.log('listener disconnected; reconnecting');
        retry();
      });
      await client.connect();
      await client.query(`listen ${NOTIFY_CHANNEL}`);
      this.listener = client;
    };
    // Postgres restarting: keep trying once a second (messages committed meanwhile are missed,
    // as they would be by a client whose socket dropped; events are full snapshots).
    const retry = () =>
      setTimeout(() => {
        if (!this.closed) {
          connect().catch((err: Error) => {
            this.log(`listener: ${err.message}`);
            retry();
          });
        }
      }, 1000);
    await connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listener?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }
}
