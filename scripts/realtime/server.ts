// A local stand-in for Supabase Realtime (the real server needs Docker), serving the part of its
// protocol that supabase-js uses for this product at /realtime/v1/websocket:
//  - Phoenix serializer 2.0.0 text frames [join_ref, ref, topic, event, payload], heartbeats on
//    topic "phoenix", phx_join / phx_leave / access_token;
//  - private broadcast channels authorized like Realtime (the RLS policies on realtime.messages,
//    as the token's user with realtime.topic set), public channels refused (a project with
//    public access off, as the README advises);
//  - the broadcasts realtime.send() commits, and `config.broadcast.replay` from realtime.messages;
//  - a channel closes when its token expires, or when a refreshed token is invalid or loses access;
//  - join limits (channels per socket, joins per second, sockets per user) with Realtime's replies,
//    and authorization taken from the users in turn (limits.ts).
// Not emulated: Postgres Changes, Presence, broadcasts sent by clients, the REST broadcast API.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { POOL_SIZE, RealtimeDatabase, type StoredMessage } from './database.ts';
import { DEFAULT_JOIN_LIMITS, JoinGate, type JoinLimits, LIMIT_REASONS, QueueFull } from './limits.ts';
import { type TokenKeys, tokenVerifier } from './tokens.ts';

export const REALTIME_PATH = '/realtime/v1/websocket';
/** Realtime replays 10 messages unless asked, and clamps what it is asked to 1..25. */
const DEFAULT_REPLAY = 10;
const MAX_REPLAY = 25;
/** The Unix times in ms Realtime can read (years -9999 to 9999). */
const SINCE_RANGE = [-377_705_116_800_000, 253_402_300_799_999] as const;
const REPLAY_INVALID = 'UnableToReplayMessages: Replay params are not valid';
const REPLAY_FAILED = 'UnableToReplayMessages: Realtime was unable to replay messages';
const DATABASE_UNAVAILABLE = 'UnableToConnectToProject: Realtime was unable to connect to the project database';
/** A socket without any frame (heartbeats come every 25 s) for this long is dropped. */
const IDLE_MS = 60_000;

export interface RealtimeOptions extends TokenKeys {
  /** A database URL with the rights Realtime has: read/insert realtime.messages, set role authenticated. */
  dbUrl: string;
  log?: (line: string) => void;
  /** Overrides of DEFAULT_JOIN_LIMITS (tests). */
  limits?: Partial<JoinLimits>;
  /** The clock of the join rate windows (tests freeze it); Date.now by default. */
  now?: () => number;
}

export interface Realtime {
  /** Takes the upgrade if it is for REALTIME_PATH (returns false otherwise). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  close(): Promise<void>;
}

type Frame = [string | null, string | null, string, string, Record<string, unknown>];

/** One client connection: its channels, the joins under way, the users that joined on it. */
interface Socket {
  id: string;
  ws: WebSocket;
  apikey: string | undefined;
  channels: Map<string, Channel>;
  joining: Set<string>;
  users: Set<string>;
}

interface Channel {
  socket: Socket;
  topic: string; // realtime:<sub-topic>
  sub: string;
  joinRef: string;
  private: boolean;
  claims: Record<string, unknown>;
  expiry?: NodeJS.Timeout;
  /** Live messages held back while the replay is sent, so order stays oldest → newest. */
  held?: StoredMessage[];
  sentIds: Set<string>;
}

const send = (ws: WebSocket, frame: Frame) => {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
};

interface JoinConfig {
  private?: boolean;
  postgres_changes?: unknown[];
  broadcast?: { replay?: { since?: unknown; limit?: unknown } };
}
interface Replay {
  since: number;
  limit: number;
}

/** What this stand-in does not serve, refused as Realtime words it (or says it is not emulated). */
function configError(config: JoinConfig): string | undefined {
  if (config.postgres_changes?.length) {
    return 'PostgresChangesNotSupported: the local Realtime stand-in serves Broadcast only; hosted Realtime serves Postgres Changes';
  }
  if (!config.private) return 'PrivateOnly: This project only allows private channels';
}

/**
 * Realtime's replay parameters: integers, `limit` clamped to 1..25 (10 if absent), `since` a Unix
 * time in ms it can read (else the join is refused); no message predates 1970, so an earlier
 * `since` reads as 0.
 */
function replayOf(replay: { since?: unknown; limit?: unknown } | undefined): Replay | 'invalid' | undefined {
  if (!replay) return undefined;
  const { since = 0, limit = DEFAULT_REPLAY } = replay;
  if (!Number.isSafeInteger(since) || !Number.isSafeInteger(limit)) return 'invalid';
  if ((since as number) < SINCE_RANGE[0] || (since as number) > SINCE_RANGE[1]) return 'invalid';
  return { since: Math.max(0, since as number), limit: Math.min(MAX_REPLAY, Math.max(1, limit as number)) };
}

export async function createRealtime(opts: RealtimeOptions): Promise<Realtime> {
  const log = opts.log ?? (() => {});
  const verify = tokenVerifier(opts);
  const db = new RealtimeDatabase(opts.dbUrl, log);
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const bySub = new Map<string, Set<Channel>>();

  const deliver = (ch: Channel, m: StoredMessage, replayed = false) => {
    if (ch.sentIds.has(m.id)) return;
    ch.sentIds.add(m.id);
    if (ch.sentIds.size > 1000) ch.sentIds.delete(ch.sentIds.values().next().value!);
    send(ch.socket.ws, [ch.joinRef, null, ch.topic, 'broadcast', {
      type: 'broadcast',
      event: m.event,
      payload: m.payload,
      meta: replayed ? { replayed: true, id: m.id } : { id: m.id },
    }]);
  };
  await db.listen((m) => {
    for (const ch of bySub.get(m.topic) ?? []) {
      if (ch.private !== m.private) continue;
      if (ch.held) ch.held.push(m);
      else deliver(ch, m);
    }
  });

  const remove = (ch: Channel) => {
    clearTimeout(ch.expiry);
    if (ch.socket.channels.get(ch.topic) === ch) ch.socket.channels.delete(ch.topic);
    bySub.get(ch.sub)?.delete(ch);
    if (bySub.get(ch.sub)?.size === 0) bySub.delete(ch.sub);
  };
  /** Realtime's way of ending a channel: a system error, then phx_close. */
  const shutdown = (ch: Channel, message: string) => {
    remove(ch);
    send(ch.socket.ws, [ch.joinRef, null, ch.topic, 'system', {
      message,
      status: 'error',
      extension: 'system',
      channel: ch.sub,
    }]);
    send(ch.socket.ws, [ch.joinRef, null, ch.topic, 'phx_close', {}]);
  };
  const armExpiry = (ch: Channel) => {
    clearTimeout(ch.expiry);
    const ms = Number(ch.claims.exp) * 1000 - Date.now();
    ch.expiry = setTimeout(() => shutdown(ch, 'Token has expired 0 seconds ago'), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
  };

  const gate = new JoinGate({ ...DEFAULT_JOIN_LIMITS, ...opts.limits }, opts.now ?? Date.now, POOL_SIZE);
  const unauthorized = (sub: string) => `Unauthorized: You do not have permissions to read from this Channel topic: ${sub}`;
  /** The token's user (or role): whom the per-user limits count. */
  const userOf = (claims: Record<string, unknown>) => String(claims.sub ?? `role:${String(claims.role)}`);

  /** Realtime's join check, and its replay, in the user's turn for a database connection. */
  const authorizeAndReplay = (sub: string, claims: Record<string, unknown>, replay?: Replay) =>
    gate.checks.run(userOf(claims), async (): Promise<{ reason: string } | { messages: StoredMessage[] }> => {
      if (!(await db.canRead(sub, claims))) return { reason: unauthorized(sub) };
      if (!replay) return { messages: [] };
      try {
        return { messages: await db.replay(sub, replay.since, replay.limit) };
      } catch (err) {
        log(`replay of ${sub} failed: ${(err as Error).message}`);
        return { reason: REPLAY_FAILED };
      }
    }).catch((err: Error) => ({ reason: err instanceof QueueFull ? LIMIT_REASONS.tooManyJoins : DATABASE_UNAVAILABLE }));

  const join = async (sock: Socket, [joinRef, ref, topic, , payload]: Frame) => {
    const reply = (status: 'ok' | 'error', response: Record<string, unknown>) =>
      send(sock.ws, [joinRef, ref, topic, 'phx_reply', { status, response }]);
    const refuse = (reason: string) => {
      reply('error', { reason });
      // Realtime disconnects a client that joins too fast (its supabase-js reconnects later).
      if (reason === LIMIT_REASONS.tooManyJoins) sock.ws.close(1000, 'too many joins');
    };
    const config = (payload.config ?? {}) as JoinConfig;
    const sub = topic.replace(/^realtime:/, '');
    const early = gate.admitJoin(sock, topic) ?? configError(config);
    if (early) return refuse(early);
    const replay = replayOf(config.broadcast?.replay);
    if (replay === 'invalid') return refuse(REPLAY_INVALID);
    sock.joining.add(topic);
    try {
      const v = await verify((payload.access_token as string | undefined) ?? sock.apikey);
      if (!v.ok) return refuse(v.reason);
      const limited = gate.admitUser(sock, userOf(v.claims));
      if (limited) return refuse(limited);
      const ch: Channel = {
        socket: sock,
        topic,
        sub,
        joinRef: joinRef ?? '',
        private: true,
        claims: v.claims,
        held: [],
        sentIds: new Set(),
      };
      // Subscribed before the replay is read, so nothing committed meanwhile is missed.
      if (!bySub.has(sub)) bySub.set(sub, new Set());
      bySub.get(sub)!.add(ch);
      const result = await authorizeAndReplay(sub, v.claims, replay);
      if ('reason' in result || sock.ws.readyState !== sock.ws.OPEN) {
        remove(ch);
        return 'reason' in result ? refuse(result.reason) : undefined;
      }
      const old = sock.channels.get(topic);
      if (old) remove(old);
      sock.channels.set(topic, ch);
      armExpiry(ch);
      reply('ok', { postgres_changes: [] });
      for (const m of result.messages) deliver(ch, m, true);
      for (const m of ch.held ?? []) deliver(ch, m);
      ch.held = undefined;
    } finally {
      sock.joining.delete(topic);
    }
  };

  const refresh = async (ch: Channel, token: unknown) => {
    if (typeof token !== 'string') return;
    const v = await verify(token);
    if (!v.ok) return shutdown(ch, v.reason);
    const ok = await gate.checks.run(userOf(v.claims), () => db.canRead(ch.sub, v.claims)).catch(() => undefined);
    if (ok === undefined) return; // no turn for a check now: the channel keeps its token until it expires
    if (!ok) return shutdown(ch, unauthorized(ch.sub));
    ch.claims = v.claims;
    armExpiry(ch);
  };

  const onFrame = async (sock: Socket, frame: Frame) => {
    const [joinRef, ref, topic, event, payload] = frame;
    const reply = (status: 'ok' | 'error', response: Record<string, unknown>) =>
      send(sock.ws, [joinRef, ref, topic, 'phx_reply', { status, response }]);
    if (topic === 'phoenix' && event === 'heartbeat') return reply('ok', {});
    if (event === 'phx_join') return join(sock, frame);
    const ch = sock.channels.get(topic);
    if (!ch) return reply('error', { reason: 'unmatched topic' });
    if (event === 'phx_leave') {
      remove(ch);
      return reply('ok', {});
    }
    if (event === 'access_token') return refresh(ch, payload.access_token);
    reply('error', { reason: `${event} from clients is not served by the local Realtime stand-in` });
  };

  const closed = (sock: Socket) => {
    for (const ch of sock.channels.values()) remove(ch);
    gate.release(sock);
  };

  let socketCount = 0;
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const apikey = new URL(req.url ?? '/', 'http://x').searchParams.get('apikey') ?? undefined;
    const sock: Socket = { id: String(++socketCount), ws, apikey, channels: new Map(), joining: new Set(), users: new Set() };
    let seen = Date.now();
    const idle = setInterval(() => {
      if (Date.now() - seen > IDLE_MS) ws.terminate();
    }, IDLE_MS / 4);
    ws.on('message', (data, isBinary) => {
      seen = Date.now();
      if (isBinary) return; // client broadcasts (binary since serializer 2.0.0) are not served
      let frame: Frame;
      try {
        frame = JSON.parse(String(data)) as Frame;
        if (!Array.isArray(frame) || frame.length !== 5 || typeof frame[2] !== 'string' || typeof frame[3] !== 'string') {
          throw new Error('not a frame');
        }
      } catch {
        return ws.close(1003, 'expected Phoenix serializer 2.0.0 frames');
      }
      onFrame(sock, frame).catch((err: Error) => log(`${frame[3]} on ${frame[2]}: ${err.message}`));
    });
    ws.on('close', () => {
      clearInterval(idle);
      closed(sock);
    });
  });

  return {
    handleUpgrade(req, socket, head) {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== REALTIME_PATH) return false;
      const refuse = (status: number, message: string) => {
        socket.end(
          `HTTP/1.1 ${status} ${
            status === 403 ? 'Forbidden' : 'Bad Request'
          }\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`,
        );
      };
      if (url.searchParams.get('vsn') !== '2.0.0') {
        refuse(400, 'the local Realtime stand-in speaks vsn=2.0.0 only');
        return true;
      }
      void verify(url.searchParams.get('apikey') ?? undefined).then((v) => {
        if (!v.ok) return refuse(403, `apikey: ${v.reason}`);
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      });
      return true;
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      for (const set of bySub.values()) for (const ch of set) clearTimeout(ch.expiry);
      await db.close();
    },
  };
}
