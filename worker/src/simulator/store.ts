// Where the simulator keeps posted messages. Telegram remembers a (sender, chat, random_id)
// forever, so a resend after a worker crash must find the earlier message: the Postgres store
// survives the worker process (crash tests run the worker as a child and count here).
import pg from 'pg';

export interface PostedMessage {
  messageId: number;
  /** The random_id was seen before: Telegram answered with the earlier message, posted nothing. */
  duplicate: boolean;
}

/** A time Telegram was unreachable (the simulator's injected outage). */
export interface Outage {
  from: Date;
  until: Date;
}

/**
 * A post: media is the kind of file the message carries (photo, video, document), if any; at is
 * when Telegram accepted it (it was reachable then), the message's time whenever it is stored.
 */
type PostArgs = [accountId: string, chatId: string, randomId: string, label: string, media?: string, at?: Date];

export interface MessageStore {
  post(...args: PostArgs): Promise<PostedMessage>;
  /** Remembers an outage, so a check can hold each message's time against it. */
  outage(o: Outage): Promise<void>;
  outages(): Promise<Outage[]>;
  /** Messages actually posted per chat, keyed by its peer name (e.g. "@news") when known. */
  countsByPeer(): Promise<Map<string, number>>;
  /** Every posted message in posting order. */
  messages(): Promise<
    Array<{ accountId: string; peer: string; randomId: string; messageId: number; at: Date; media: string | null }>
  >;
  close(): Promise<void>;
}

export class MemoryMessageStore implements MessageStore {
  #byKey = new Map<string, number>();
  #log: Array<
    { accountId: string; chatId: string; peer: string; randomId: string; messageId: number; at: Date; media: string | null }
  > = [];
  #nextId = 1;
  #outages: Outage[] = [];

  async post(...[accountId, chatId, randomId, label, media, at = new Date()]: PostArgs): Promise<PostedMessage> {
    const key = `${accountId}|${chatId}|${randomId}`;
    const earlier = this.#byKey.get(key);
    if (earlier !== undefined) return { messageId: earlier, duplicate: true };
    const messageId = this.#nextId++;
    this.#byKey.set(key, messageId);
    this.#log.push({ accountId, chatId, peer: label, randomId, messageId, at, media: media ?? null });
    return { messageId, duplicate: false };
  }

  async outage(o: Outage): Promise<void> {
    this.#outages.push(o);
  }

  async outages(): Promise<Outage[]> {
    return [...this.#outages];
  }

  async countsByPeer(): Promise<Map<string, number>> {
    const n = new Map<string, number>();
    const label = new Map<string, string>();
    for (const x of this.#log) {
      n.set(x.chatId, (n.get(x.chatId) ?? 0) + 1);
      if (!label.has(x.chatId) || !x.peer.startsWith('-')) label.set(x.chatId, x.peer);
    }
    return new Map([...n].map(([chat, count]) => [label.get(chat)!, count]));
  }

  async messages() {
    return this.#log.map(({ chatId: _, ...m }) => m);
  }

  async close(): Promise<void> {}
}

/** Messages in table telegram_sim.messages of the given database (created if missing). */
export class PostgresMessageStore implements MessageStore {
  #pool: pg.Pool;
  #ready: Promise<void>;

  constructor(databaseUrl: string) {
    // Named so connection counts of the worker (application_name tg-worker*) leave it out.
    this.#pool = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: 'tg-simulator' });
    this.#pool.on('error', () => {});
    this.#ready = this.#pool.query(`
      create schema if not exists telegram_sim;
      create table if not exists telegram_sim.messages (
        account_id text not null, chat_id text not null, random_id text not null,
        peer text not null, message_id bigint generated always as identity,
        posted_at timestamptz not null default clock_timestamp(),
        primary key (account_id, chat_id, random_id));
      alter table telegram_sim.messages add column if not exists media text;
      create table if not exists telegram_sim.outages (started_at timestamptz not null, ends_at timestamptz not null);`).then(
      () => {},
      (err: unknown) => {
        // Two processes may race to create it; the loser finds it there.
        if (!/already exists|duplicate key/.test(String(err))) throw err;
      },
    );
  }

  async post(...[accountId, chatId, randomId, label, media, at = new Date()]: PostArgs): Promise<PostedMessage> {
    await this.#ready;
    const ins = await this.#pool.query<{ message_id: string }>(
      `insert into telegram_sim.messages (account_id, chat_id, random_id, peer, media, posted_at)
       values ($1, $2, $3, $4, $5, $6) on conflict do nothing returning message_id`,
      [accountId, chatId, randomId, label, media ?? null, at],
    );
    if (ins.rows[0]) return { messageId: Number(ins.rows[0].message_id), duplicate: false };
    const old = await this.#pool.query<{ message_id: string }>(
      'select message_id from telegram_sim.messages where account_id = $1 and chat_id = $2 and random_id = $3',
      [accountId, chatId, randomId],
    );
    return { messageId: Number(old.rows[0]!.message_id), duplicate: true };
  }

  async countsByPeer(): Promise<Map<string, number>> {
    await this.#ready;
    const { rows } = await this.#pool.query<{ peer: string; n: number }>(
      // Grouped by chat: a restarted worker's simulator may only know the chat id, not the name.
      `select coalesce(max(peer) filter (where peer not like '-%'), max(peer)) as peer, count(*)::int as n
         from telegram_sim.messages group by chat_id`,
    );
    return new Map(rows.map((r) => [r.peer, r.n]));
  }

  async messages() {
    await this.#ready;
    const { rows } = await this.#pool.query(
      `select account_id, peer, random_id, message_id, posted_at, media from telegram_sim.messages order by message_id`,
    );
    return rows.map((r) => ({
      accountId: r.account_id,
      peer: r.peer,
      randomId: r.random_id,
      messageId: Number(r.message_id),
      at: r.posted_at,
      media: r.media,
    }));
  }

  async outage(o: Outage): Promise<void> {
    await this.#ready;
    await this.#pool.query('insert into telegram_sim.outages values ($1, $2)', [o.from, o.until]);
  }

  async outages(): Promise<Outage[]> {
    await this.#ready;
    const { rows } = await this.#pool.query('select started_at, ends_at from telegram_sim.outages order by started_at');
    return rows.map((r) => ({ from: r.started_at, until: r.ends_at }));
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
