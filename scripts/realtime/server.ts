// A local stand-in for Supabase Realtime (the real server needs Docker), serving the part of its
// protocol that supabase-js uses for this product at /realtime/v1/websocket:
//  - Phoenix serializer 2.0.0 text frames [join_ref, ref, topic, event, payload], heartbeats on
//    topic "phoenix", phx_join / phx_leave / access_token;
//  - private broadcast channels authorized like Realtime (the RLS policies on realtime.messages,
//    as the token's user with realtime.topic set), public channels refused (a project with
//    public access off, as the README advises);
//  - the broadcasts realtime.send() commits, and `config.broadcast.replay` from realtime.messages;
//  - a channel closes when its token expires, or when a refreshed token is invalid or loses access.
// Not emulated: Postgres Changes, Presence, broadcasts sent by clients, the REST broadcast API.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { RealtimeDatabase, type StoredMessage } from './database.ts';
import { type TokenKeys, tokenVerifier } from './tokens.ts';

export const REALTIME_PATH = '/realtime/v1/websocket';
/** Realtime keeps at most 25 replayed messages per join. */
const MAX_REPLAY = 25;
/** A socket without any frame (heartbeats come every 25 s) for this long is dropped. */
const IDLE_MS = 60_000;

export interface RealtimeOptions extends TokenKeys {
  /** A database URL with the rights Realtime has: read/insert realtime.messages, set role authenticated. */
  dbUrl: string;
  log?: (line: string) => void;
}

export interface Realtime {
  /** Takes the upgrade if it is for REALTIME_PATH (returns false otherwise). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  close(): Promise<void>;
}

type Frame = [string | null, string | null, string, string, Record<string, unknown>];

interface Channel {
  ws: WebSocket;
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
    send(ch.ws, [ch.joinRef, null, ch.topic, 'broadcast', {
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
    bySub.get(ch.sub)?.delete(ch);
    if (bySub.get(ch.sub)?.size === 0) bySub.delete(ch.sub);
  };
  /** Realtime's way of ending a channel: a system error, then phx_close. */
  const shutdown = (ch: Channel, message: string) => {
    remove(ch);
    send(ch.ws, [ch.joinRef, null, ch.topic, 'system', { message, status: 'error', extension: 'system', channel: ch.sub }]);
    send(ch.ws, [ch.joinRef, null, ch.topic, 'phx_close', {}]);
  };
  const armExpiry = (ch: Channel) => {
    clearTimeout(ch.expiry);
    const ms = Number(ch.claims.exp) * 1000 - Date.now();
    ch.expiry = setTimeout(() => shutdown(ch, 'Token has expired 0 seconds ago'), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
  };

  const authorize = async (sub: string, isPrivate: boolean, token: string | undefined) => {
    const v = await verify(token);
    if (!v.ok) return v;
    if (isPrivate && !(await db.canRead(sub, v.claims))) {
      return { ok: false as const, reason: `Unauthorized: You do not have permissions to read from this Channel topic: ${sub}` };
    }
    return v;
  };

  const join = async (
    ws: WebSocket,
    channels: Map<string, Channel>,
    apikey: string | undefined,
    [joinRef, ref, topic, , payload]: Frame,
  ) => {
    const reply = (status: 'ok' | 'error', response: Record<string, unknown>) =>
      send(ws, [joinRef, ref, topic, 'phx_reply', { status, response }]);
    const config = (payload.config ?? {}) as {
      private?: boolean;
      postgres_changes?: unknown[];
      broadcast?: { replay?: { since?: number; limit?: number } };
    };
    const sub = topic.replace(/^realtime:/, '');
    if (config.postgres_changes?.length) {
      return reply('error', {
        reason:
          'PostgresChangesNotSupported: the local Realtime stand-in serves Broadcast only; hosted Realtime serves Postgres Changes',
      });
    }
    if (!config.private) return reply('error', { reason: 'PrivateOnly: This project only allows private channels' });
    const replay = config.broadcast?.replay;
    if (
      replay &&
      !(Number.isInteger(replay.since) && (replay.limit === undefined || (replay.limit >= 1 && replay.limit <= MAX_REPLAY)))
    ) {
      return reply('error', {
        reason: `UnableToReplayMessages: replay needs an integer since and a limit of 1 to ${MAX_REPLAY}`,
      });
    }
    const auth = await authorize(sub, true, (payload.access_token as string | undefined) ?? apikey);
    if (!auth.ok) return reply('error', { reason: auth.reason });
    const old = channels.get(topic);
    if (old) remove(old);
    const ch: Channel = {
      ws,
      topic,
      sub,
      joinRef: joinRef ?? '',
      private: true,
      claims: auth.claims,
      held: replay ? [] : undefined,
      sentIds: new Set(),
    };
    channels.set(topic, ch);
    if (!bySub.has(sub)) bySub.set(sub, new Set());
    bySub.get(sub)!.add(ch);
    armExpiry(ch);
    reply('ok', { postgres_changes: [] });
    if (replay) {
      for (const m of await db.replay(sub, replay.since!, replay.limit ?? MAX_REPLAY)) deliver(ch, m, true);
      for (const m of ch.held ?? []) deliver(ch, m);
      ch.held = undefined;
    }
  };

  const refresh = async (ch: Channel, token: unknown) => {
    if (typeof token !== 'string') return;
    const auth = await authorize(ch.sub, ch.private, token);
    if (!auth.ok) return shutdown(ch, auth.reason);
    ch.claims = auth.claims;
    armExpiry(ch);
  };

  const onFrame = async (ws: WebSocket, channels: Map<string, Channel>, apikey: string | undefined, frame: Frame) => {
    const [joinRef, ref, topic, event, payload] = frame;
    const reply = (status: 'ok' | 'error', response: Record<string, unknown>) =>
      send(ws, [joinRef, ref, topic, 'phx_reply', { status, response }]);
    if (topic === 'phoenix' && event === 'heartbeat') return reply('ok', {});
    if (event === 'phx_join') return join(ws, channels, apikey, frame);
    const ch = channels.get(topic);
    if (!ch) return reply('error', { reason: 'unmatched topic' });
    if (event === 'phx_leave') {
      remove(ch);
      channels.delete(topic);
      return reply('ok', {});
    }
    if (event === 'access_token') return refresh(ch, payload.access_token);
    reply('error', { reason: `${event} from clients is not served by the local Realtime stand-in` });
  };

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const apikey = new URL(req.url ?? '/', 'http://x').searchParams.get('apikey') ?? undefined;
    const channels = new Map<string, Channel>();
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
      onFrame(ws, channels, apikey, frame).catch((err: Error) => log(`${frame[3]} on ${frame[2]}: ${err.message}`));
    });
    ws.on('close', () => {
      clearInterval(idle);
      for (const ch of channels.values()) remove(ch);
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
