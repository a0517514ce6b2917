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
type PostArgs = [
  accountId: string,
  chatId: string,
  randomId: string,
  label: string,
  media?: string,
  at?: Date,
  text?: string,
];

/**
 * What can be done to a posted message (the simulator's messages.editMessage, deleteMessages,
 * updatePinnedMessage); an edit's `media` is the kind of the new file it gives the post.
 */
export type PostAction = { kind: 'edit'; text: string; media?: string } | { kind: 'delete' | 'pin' | 'unpin' };

/** An action Telegram carried out, in the order it did. */
export interface ActionRecord {
  accountId: string;
  chatId: string;
  messageId: number;
  kind: PostAction['kind'];
  text: string | null;
}

/**
 * Telegram's answer to an action: null when done, else its error. Edits and pins of a message
 * that is not there (never posted, or deleted) are MESSAGE_ID_INVALID, an edit to the text the
 * message has MESSAGE_NOT_MODIFIED (core.telegram.org/method/messages.editMessage); deleting a
 * message that is not there deletes nothing and is no error (/method/channels.deleteMessages).
 */
export type ActionAnswer = null | 'MESSAGE_ID_INVALID' | 'MESSAGE_NOT_MODIFIED' | 'MEDIA_PREV_INVALID';

/**
 * A text message cannot gain media by an edit (MEDIA_PREV_INVALID). The simulator keeps no file
 * identity: an edit that gives a file always modifies the post.
 */
function answerFor(
  found: { text: string | null; deleted: boolean; media: string | null } | undefined,
  a: PostAction,
): ActionAnswer | 'none' {
  if (!found || found.deleted) return a.kind === 'delete' ? 'none' : 'MESSAGE_ID_INVALID';
  if (a.kind === 'edit' && a.media && !found.media) return 'MEDIA_PREV_INVALID';
  if (a.kind === 'edit' && found.text === a.text && !a.media) return 'MESSAGE_NOT_MODIFIED';
  return null;
}

export interface MessageStore {
  post(...args: PostArgs): Promise<PostedMessage>;
  /** Carries out an action on a message of the chat, as Telegram answers it (logged when done). */
  act(accountId: string, chatId: string, messageId: number, action: PostAction): Promise<ActionAnswer>;
  /** Every action carried out, in order. */
  actions(): Promise<ActionRecord[]>;
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
  #posts = new Map<string, { text: string | null; deleted: boolean; media: string | null }>();
  #actions: ActionRecord[] = [];
  #nextId = 1;
  #outages: Outage[] = [];

  async post(...[accountId, chatId, randomId, label, media, at = new Date(), text]: PostArgs): Promise<PostedMessage> {
    const key = `${accountId}|${chatId}|${randomId}`;
    const earlier = this.#byKey.get(key);
    if (earlier !== undefined) return { messageId: earlier, duplicate: true };
    const messageId = this.#nextId++;
    this.#byKey.set(key, messageId);
    this.#posts.set(`${chatId}|${messageId}`, { text: text ?? null, deleted: false, media: media ?? null });
    this.#log.push({ accountId, chatId, peer: label, randomId, messageId, at, media: media ?? null });
    return { messageId, duplicate: false };
  }

  async outage(o: Outage): Promise<void> {
    this.#outages.push(o);
  }

  async act(accountId: string, chatId: string, messageId: number, a: PostAction): Promise<ActionAnswer> {
    const post = this.#posts.get(`${chatId}|${messageId}`);
    const answer = answerFor(post, a);
    if (answer === 'none') return null;
    if (answer || !post) return answer;
    if (a.kind === 'edit') Object.assign(post, { text: a.text, media: a.media ?? post.media });
    if (a.kind === 'delete') post.deleted = true;
    this.#actions.push({ accountId, chatId, messageId, kind: a.kind, text: a.kind === 'edit' ? a.text : null });
    return null;
  }

  async actions(): Promise<ActionRecord[]> {
    return [...this.#actions];
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
      alter table telegram_sim.messages add column if not exists text text;
      alter table telegram_sim.messages add column if not exists deleted boolean not null default false;
      create table if not exists telegram_sim.actions (
        seq bigint generated always as identity primary key, account_id text not null, chat_id text not null,
        message_id bigint not null, kind text not null, text text);
      create table if not exists telegram_sim.outages (started_at timestamptz not null, ends_at timestamptz not null);`).then(
      () => {},
      (err: unknown) => {
        // Two processes may race to create it; the loser finds it there.
        if (!/already exists|duplicate key/.test(String(err))) throw err;
      },
    );
  }

  async post(...[accountId, chatId, randomId, label, media, at = new Date(), text]: PostArgs): Promise<PostedMessage> {
    await this.#ready;
    const ins = await this.#pool.query<{ message_id: string }>(
      `insert into telegram_sim.messages (account_id, chat_id, random_id, peer, media, posted_at, text)
       values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing returning message_id`,
      [accountId, chatId, randomId, label, media ?? null, at, text ?? null],
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

  /** One transaction: the message is locked, so two workers' actions on it answer one after the other. */
  async act(accountId: string, chatId: string, messageId: number, a: PostAction): Promise<ActionAnswer> {
    await this.#ready;
    const client = await this.#pool.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query(
        'select text, deleted, media from telegram_sim.messages where chat_id = $1 and message_id = $2 for update',
        [chatId, messageId],
      );
      const answer = answerFor(rows[0], a);
      if (answer === null) {
        const text = a.kind === 'edit' ? a.text : null;
        await client.query(
          `update telegram_sim.messages set text = coalesce($3, text), deleted = deleted or $4, media = coalesce($5, media)
           where chat_id = $1 and message_id = $2`,
          [chatId, messageId, text, a.kind === 'delete', a.kind === 'edit' ? a.media ?? null : null],
        );
        await client.query(
          'insert into telegram_sim.actions (account_id, chat_id, message_id, kind, text) values ($1, $2, $3, $4, $5)',
          [accountId, chatId, messageId, a.kind, text],
        );
      }
      await client.query('commit');
      return answer === 'none' ? null : answer;
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async actions(): Promise<ActionRecord[]> {
    await this.#ready;
    const { rows } = await this.#pool.query(
      'select account_id, chat_id, message_id, kind, text from telegram_sim.actions order by seq',
    );
    return rows.map((r) => ({
      accountId: r.account_id,
      chatId: r.chat_id,
      messageId: Number(r.message_id),
      kind: r.kind,
      text: r.text,
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
