// A Telegram stand-in at the MTProto level: it receives the TL request objects GramJS builds
// (messages.SendMessage, contacts.ResolveUsername, ...) and answers with TL results or with the
// errors GramJS's own RPCMessageToError makes from Telegram's RPC errors. It sits below
// TelegramClient.invoke (see simulated-client.ts), so the worker's GramJS adapter runs unchanged.
import { createHash } from 'node:crypto';
import { Api, errors } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { MemoryMessageStore, type MessageStore } from './store.ts';
import { SimulatorOptions, type SimulatorOptionsInput, type TargetBehaviour } from './options.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = () => new Promise<never>(() => {});

/** Deterministic channel id and access hash for a username or invite, stable across processes. */
function channelFor(peer: string): { id: bigint; accessHash: bigint } {
  const h = createHash('sha256').update(peer.toLowerCase()).digest();
  return { id: 1_000_000_000n + (h.readBigUInt64BE(0) % 900_000_000_000n), accessHash: h.readBigInt64BE(8) };
}

interface AccountState {
  sends: number;
  window: number[];
  floodUntil: number;
  floodInjected: boolean;
}

export interface SendRecord {
  accountId: string; peer: string; randomId: string;
  /** When the request reached the simulator (before its latency) and when it was posted. */
  requestedAt: number; at: number; duplicate: boolean;
}

export class TelegramSimulator {
  readonly options: SimulatorOptions;
  readonly store: MessageStore;
  /** Every accepted SendMessage in order, duplicates included (what reached "Telegram"). */
  readonly sends: SendRecord[] = [];
  #accounts = new Map<string, AccountState>();
  #peerById = new Map<string, string>();
  #attempts = new Map<string, number>();
  #chatPosts = new Map<string, number[]>();
  #revoked = new Set<string>();
  #targets: Map<string, TargetBehaviour>;

  constructor(options: SimulatorOptionsInput = {}, store: MessageStore = new MemoryMessageStore()) {
    this.options = SimulatorOptions.parse(options);
    this.store = store;
    this.#targets = new Map(Object.entries(this.options.targets));
    for (const a of this.options.revokedAccounts) this.#revoked.add(a);
    for (const peer of this.#targets.keys()) this.#peerById.set(String(channelFor(peer).id), peer);
  }

  /** Changes a target's behaviour while running (tests). */
  setTarget(peer: string, behaviour: TargetBehaviour | null): void {
    if (behaviour) this.#targets.set(peer, behaviour);
    else this.#targets.delete(peer);
    this.#peerById.set(String(channelFor(peer).id), peer);
  }

  /** Telegram stops accepting the account's session (AUTH_KEY_UNREGISTERED). */
  revoke(accountId: string): void {
    this.#revoked.add(accountId);
  }

  /** Bot-API style ("marked") id the simulator gives a peer: -100<channel id>. */
  static markedIdFor(peer: string): string {
    return `-100${channelFor(peer).id}`;
  }

  /** Messages actually posted per peer: exactly-once means 1 for every target. */
  countsByPeer(): Promise<Map<string, number>> {
    return this.store.countsByPeer();
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  #account(id: string): AccountState {
    let a = this.#accounts.get(id);
    if (!a) this.#accounts.set(id, a = { sends: 0, window: [], floodUntil: 0, floodInjected: false });
    return a;
  }

  /** Answers one request as Telegram would: a TL result, or a thrown GramJS RPC error. */
  async handle(accountId: string, request: Api.AnyRequest): Promise<unknown> {
    const requestedAt = Date.now();
    const [lo, hi] = this.options.latencyMs;
    if (hi > 0) await sleep(lo + Math.random() * (hi - lo));
    const fail = (code: number, message: string): never => {
      throw errors.RPCMessageToError(new Api.RpcError({ errorCode: code, errorMessage: message }), request);
    };
    if (this.#revoked.has(accountId)) fail(401, 'AUTH_KEY_UNREGISTERED');

    if (request instanceof Api.updates.GetState) {
      return new Api.updates.State({ pts: 1, qts: 0, date: Math.floor(Date.now() / 1000), seq: 0, unreadCount: 0 });
    }
    if (request instanceof Api.contacts.ResolveUsername) {
      const peer = `@${request.username.toLowerCase()}`;
      if (this.#targets.get(peer)?.missing) fail(400, 'USERNAME_NOT_OCCUPIED');
      const chat = this.#channel(peer);
      return new Api.contacts.ResolvedPeer({ peer: new Api.PeerChannel({ channelId: chat.id }), chats: [chat], users: [] });
    }
    if (request instanceof Api.messages.CheckChatInvite) {
      const peer = `+${request.hash}`;
      if (this.#targets.get(peer)?.missing) fail(400, 'INVITE_HASH_EXPIRED');
      return new Api.ChatInviteAlready({ chat: this.#channel(peer) });
    }
    if (request instanceof Api.channels.GetChannels) {
      const chats = request.id.map((c) => {
        const id = String((c as Api.InputChannel).channelId);
        return this.#channel(this.#peerById.get(id) ?? `-100${id}`, id);
      });
      return new Api.messages.Chats({ chats });
    }
    if (request instanceof Api.messages.SendMessage) return this.#send(accountId, request, fail, requestedAt);
    fail(400, 'METHOD_NOT_SIMULATED');
    return undefined;
  }

  #channel(peer: string, knownId?: string): Api.Channel {
    const { id, accessHash } = channelFor(peer);
    const channelId = knownId ?? String(id);
    this.#peerById.set(channelId, peer);
    return new Api.Channel({
      id: returnBigInt(channelId), accessHash: returnBigInt(accessHash.toString()), title: peer,
      photo: new Api.ChatPhotoEmpty(), date: 0, broadcast: true,
    });
  }

  async #send(accountId: string, req: Api.messages.SendMessage, fail: (code: number, message: string) => never, requestedAt: number): Promise<unknown> {
    const input = req.peer as Api.InputPeerChannel;
    if (!(input instanceof Api.InputPeerChannel)) fail(400, 'PEER_ID_INVALID');
    const chatId = String(input.channelId);
    const peer = this.#peerById.get(chatId) ?? `-100${chatId}`;
    if (input.accessHash.toString() !== channelFor(peer).accessHash.toString() && this.#peerById.has(chatId)) {
      fail(400, 'CHANNEL_INVALID');
    }
    const randomId = String(req.randomId);
    const target = this.#targets.get(peer);
    const attemptKey = `${accountId}|${chatId}|${randomId}`;
    const attempt = (this.#attempts.get(attemptKey) ?? 0) + 1;
    this.#attempts.set(attemptKey, attempt);
    const faulty = (t: TargetBehaviour | undefined) => t && (t.times === undefined || attempt <= t.times);

    if (target?.hang === 'before' && faulty(target)) return never();
    const acct = this.#account(accountId);
    const now = Date.now();
    if (acct.floodUntil > now) fail(420, `FLOOD_WAIT_${Math.ceil((acct.floodUntil - now) / 1000)}`);
    const inj = this.options.floodAfter;
    if (inj && !acct.floodInjected && acct.sends >= inj.sends) {
      acct.floodInjected = true;
      acct.floodUntil = now + inj.seconds * 1000;
      fail(420, `FLOOD_WAIT_${inj.seconds}`);
    }
    acct.window = acct.window.filter((t) => t > now - 1000);
    if (acct.window.length >= this.options.accountPerSecond) {
      acct.floodUntil = now + this.options.limitFloodSeconds * 1000;
      fail(420, `FLOOD_WAIT_${this.options.limitFloodSeconds}`);
    }
    if (this.options.peerFloodAfter !== undefined && acct.sends >= this.options.peerFloodAfter) fail(400, 'PEER_FLOOD');
    if (target?.error && faulty(target)) fail(target.code ?? 400, target.error);
    const posts = (this.#chatPosts.get(chatId) ?? []).filter((t) => t > now - 60_000);
    if (target?.slowmodeSeconds && posts.length) {
      const wait = Math.ceil((posts[posts.length - 1]! + target.slowmodeSeconds * 1000 - now) / 1000);
      if (wait > 0) fail(420, `SLOWMODE_WAIT_${wait}`);
    }
    if (posts.length >= this.options.chatPerMinute) fail(420, `FLOOD_WAIT_${Math.ceil((posts[0]! + 60_000 - now) / 1000)}`);

    const posted = await this.store.post(accountId, chatId, randomId, peer);
    this.sends.push({ accountId, peer, randomId, requestedAt, at: Date.now(), duplicate: posted.duplicate });
    if (!posted.duplicate) {
      acct.sends += 1;
      acct.window.push(now);
      posts.push(now);
      this.#chatPosts.set(chatId, posts);
    }
    if (target?.hang === 'after' && faulty(target)) return never();
    const date = Math.floor(Date.now() / 1000);
    return new Api.Updates({
      updates: [
        new Api.UpdateMessageID({ id: posted.messageId, randomId: req.randomId! }),
        new Api.UpdateNewChannelMessage({
          message: new Api.Message({
            id: posted.messageId, peerId: new Api.PeerChannel({ channelId: input.channelId }), date,
            message: req.message, entities: req.entities, silent: req.silent, post: true,
          }),
          pts: posted.messageId, ptsCount: 1,
        }),
      ],
      users: [], chats: [], date, seq: 0,
    });
  }
}
