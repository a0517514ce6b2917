// A Telegram stand-in at the MTProto level: it receives the TL request objects GramJS builds
// (messages.SendMessage, contacts.ResolveUsername, ...) and answers with TL results or with the
// errors GramJS's own RPCMessageToError makes from Telegram's RPC errors. It sits below
// TelegramClient.invoke (see simulated-client.ts), so the worker's GramJS adapter runs unchanged.
import { createHash } from 'node:crypto';
import { Api, errors } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { answerAfterSend, isAfterSend } from './after-send.ts';
import { SimulatedMedia } from './media.ts';
import { MemoryMessageStore, type MessageStore, type PostedMessage } from './store.ts';
import { realClock, type SimulatorClock, SimulatorOptions, type SimulatorOptionsInput, type TargetBehaviour } from './options.ts';

const never = () => new Promise<never>(() => {});

const channels = new Map<string, bigint>();
const hashes = new Map<string, string>();

/** Deterministic channel id for a username or invite, stable across processes. */
function channelFor(peer: string): { id: bigint } {
  let id = channels.get(peer);
  if (id === undefined) {
    const h = createHash('sha256').update(peer.toLowerCase()).digest();
    id = 1_000_000_000n + (h.readBigUInt64BE(0) % 900_000_000_000n);
    if (channels.size > 100_000) channels.clear();
    channels.set(peer, id);
  }
  return { id };
}

/**
 * The access hash an account is given for a peer: Telegram gives every account its own, and
 * "access hashes may not be reused across different accounts" (core.telegram.org/api/peers,
 * "Access hash"). Cached: every send checks it, and a bench sends thousands a second.
 */
function accessHashFor(accountId: string, peer: string): string {
  const key = `${accountId}\n${peer.toLowerCase()}`;
  let hash = hashes.get(key);
  if (hash === undefined) {
    hash = createHash('sha256').update(key).digest().readBigInt64BE(8).toString();
    if (hashes.size > 100_000) hashes.clear();
    hashes.set(key, hash);
  }
  return hash;
}

interface AccountState {
  sends: number;
  window: number[];
  floodUntil: number;
  floodInjected: boolean;
}

export interface SendRecord {
  accountId: string;
  peer: string;
  randomId: string;
  /** When the request reached the simulator (before its latency) and when it was posted. */
  requestedAt: number;
  at: number;
  /**
   * requestedAt with sub-millisecond resolution (performance.timeOrigin + performance.now(), the
   * clock the worker paces with): when the send started, as Telegram saw it.
   */
  startedAt: number;
  duplicate: boolean;
}

export class TelegramSimulator {
  readonly options: SimulatorOptions;
  readonly store: MessageStore;
  /** Every accepted SendMessage in order, duplicates included (what reached "Telegram"). */
  readonly sends: SendRecord[] = [];
  /** Every edit, delete and pin request as it reached the simulator (startedAt as in SendRecord). */
  readonly actionCalls: Array<{ accountId: string; method: string; startedAt: number }> = [];
  /** Uploaded files (media.uploads counts them); SendMedia must refer to one. */
  readonly media: SimulatedMedia;
  #accounts = new Map<string, AccountState>();
  #peerById = new Map<string, string>();
  #attempts = new Map<string, number>();
  #chatPosts = new Map<string, number[]>();
  #revoked = new Set<string>();
  #targets: Map<string, TargetBehaviour>;
  /** Sends Telegram has received and not yet answered, by account|chat|random_id. */
  #inFlight = new Set<string>();
  /** Telegram unreachable until this time (epoch ms): for every account, or per account. */
  #offlineUntil: number | null = null;
  #offlineAccounts = new Map<string, number>();
  #posted = 0;
  /** Views and forwards readers gave each post (addViews), by channel id and message id. */
  #views = new Map<string, { views: number; forwards: number }>();
  /** Reactions readers gave each post (addReactions), by channel id and message id. */
  #reactions = new Map<string, number>();
  #outageInjected = false;
  /** Every time the simulator reads or waits: latency, limits, outages, the times it records. */
  readonly clock: SimulatorClock;

  constructor(options: SimulatorOptionsInput = {}, store: MessageStore = new MemoryMessageStore(), clock = realClock) {
    this.options = SimulatorOptions.parse(options);
    this.store = store;
    this.clock = clock;
    this.media = new SimulatedMedia(this.options.fileReferenceTtlMs, () => clock.now());
    this.#targets = new Map(Object.entries(this.options.targets));
    for (const a of this.options.revokedAccounts) this.#revoked.add(a);
    for (const peer of this.#targets.keys()) this.#peerById.set(String(channelFor(peer).id), peer);
  }

  /** Readers elsewhere view (and forward) a post of `peer` ("@name"): what messages.getMessagesViews then reads. */
  addViews(peer: string, messageId: number, views: number, forwards = 0): void {
    const key = `${channelFor(peer).id}:${messageId}`;
    const v = this.#views.get(key) ?? { views: 0, forwards: 0 };
    this.#views.set(key, { views: v.views + views, forwards: v.forwards + forwards });
  }

  /** Readers elsewhere react `count` times to a post of `peer`: what messages.getMessagesReactions then reads. */
  addReactions(peer: string, messageId: number, count: number): void {
    const key = `${channelFor(peer).id}:${messageId}`;
    this.#reactions.set(key, (this.#reactions.get(key) ?? 0) + count);
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

  /**
   * Telegram unreachable (no network) until `untilMs` (epoch ms; Infinity: until told otherwise),
   * for one account or, without one, for all; null makes it reachable again. Requests made
   * meanwhile never answer, like a GramJS client whose connection is gone: the caller times out.
   */
  setUnreachable(untilMs: number | null, accountId?: string): void {
    if (accountId === undefined) this.#offlineUntil = untilMs;
    else if (untilMs === null) this.#offlineAccounts.delete(accountId);
    else this.#offlineAccounts.set(accountId, untilMs);
  }

  /** Whether the account's requests currently go unanswered. */
  isUnreachable(accountId: string): boolean {
    const now = this.clock.now();
    return (this.#offlineUntil ?? 0) > now || (this.#offlineAccounts.get(accountId) ?? 0) > now;
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
    if (this.isUnreachable(accountId)) return never();
    if (request instanceof Api.messages.SendMessage || request instanceof Api.messages.SendMedia) {
      return this.#send(accountId, request);
    }
    if (isAfterSend(request)) {
      this.actionCalls.push({ accountId, method: request.className, startedAt: performance.timeOrigin + performance.now() });
    }
    await this.#latency();
    if (this.isUnreachable(accountId)) return never();
    const fail = failWith(request);
    if (this.#revoked.has(accountId)) fail(401, 'AUTH_KEY_UNREGISTERED');

    if (request instanceof Api.upload.SaveFilePart || request instanceof Api.upload.SaveBigFilePart) {
      return this.media.savePart(accountId, request);
    }
    if (request instanceof Api.messages.UploadMedia) return this.media.upload(accountId, request, fail);
    if (isAfterSend(request)) {
      return answerAfterSend(this.store, accountId, request, fail, (m) => this.media.check(accountId, m, fail));
    }
    if (request instanceof Api.messages.GetMessagesViews) return this.#postViews(accountId, request, fail);
    if (request instanceof Api.messages.GetMessagesReactions) return this.#postReactions(accountId, request, fail);
    if (request instanceof Api.help.GetNearestDc) {
      // What a connection probe asks: cheap, needs no peer, answers only if Telegram is reachable.
      return new Api.NearestDc({ country: 'NL', thisDc: 2, nearestDc: 2 });
    }
    if (request instanceof Api.updates.GetState) {
      return new Api.updates.State({ pts: 1, qts: 0, date: Math.floor(this.clock.now() / 1000), seq: 0, unreadCount: 0 });
    }
    if (request instanceof Api.users.GetUsers && request.id.every((u) => u instanceof Api.InputUserSelf)) {
      // The simulated accounts are users, not bots (the gateway asks before using a zero access hash).
      return request.id.map(() => new Api.User({ id: returnBigInt(1), self: true, firstName: accountId }));
    }
    if (request instanceof Api.contacts.ResolveUsername) {
      const peer = `@${request.username.toLowerCase()}`;
      if (this.#targets.get(peer)?.missing) fail(400, 'USERNAME_NOT_OCCUPIED');
      const chat = this.#channel(accountId, peer);
      return new Api.contacts.ResolvedPeer({ peer: new Api.PeerChannel({ channelId: chat.id }), chats: [chat], users: [] });
    }
    if (request instanceof Api.messages.CheckChatInvite) {
      const peer = `+${request.hash}`;
      if (this.#targets.get(peer)?.missing) fail(400, 'INVITE_HASH_EXPIRED');
      return new Api.ChatInviteAlready({ chat: this.#channel(accountId, peer) });
    }
    if (request instanceof Api.channels.GetChannels) {
      const chats = request.id.map((c) => {
        const id = String((c as Api.InputChannel).channelId);
        return this.#channel(accountId, this.#peerById.get(id) ?? `-100${id}`, id);
      });
      return new Api.messages.Chats({ chats });
    }
    fail(400, 'METHOD_NOT_SIMULATED');
    return undefined;
  }

  /**
   * messages.getMessagesViews of a channel (core.telegram.org/method/messages.getMessagesViews): the
   * account's own access hash or CHANNEL_INVALID, one MessageViews per id in order.
   */
  #postViews(accountId: string, req: Api.messages.GetMessagesViews, fail: (code: number, message: string) => never) {
    const { chatId, peer } = this.#readable(accountId, req.peer, fail);
    const views = req.id.map((id) => new Api.MessageViews(this.#views.get(`${chatId}:${id}`) ?? { views: 0, forwards: 0 }));
    return new Api.messages.MessageViews({ views, chats: [this.#channel(accountId, peer, chatId)], users: [] });
  }

  /**
   * messages.getMessagesReactions of a channel (core.telegram.org/method/messages.getMessagesReactions):
   * Updates with an updateMessageReactions per id, its reactions as one emoji's count.
   */
  #postReactions(accountId: string, req: Api.messages.GetMessagesReactions, fail: (code: number, message: string) => never) {
    const { chatId, peer } = this.#readable(accountId, req.peer, fail);
    const updates = req.id.map((msgId) => {
      const count = this.#reactions.get(`${chatId}:${msgId}`) ?? 0;
      const results = count ? [new Api.ReactionCount({ reaction: new Api.ReactionEmoji({ emoticon: '👍' }), count })] : [];
      const peer = new Api.PeerChannel({ channelId: returnBigInt(chatId) });
      return new Api.UpdateMessageReactions({ peer, msgId, reactions: new Api.MessageReactions({ results }) });
    });
    const chats = [this.#channel(accountId, peer, chatId)];
    return new Api.Updates({ updates, users: [], chats, date: Math.floor(this.clock.now() / 1000), seq: 0 });
  }

  /** The channel a read asks about, with the account's own access hash, or CHANNEL_INVALID. */
  #readable(accountId: string, input: Api.messages.GetMessagesViews['peer'], fail: (code: number, message: string) => never) {
    const chatId = input instanceof Api.InputPeerChannel ? String(input.channelId) : '';
    const peer = this.#peerById.get(chatId);
    if (!peer || (input as Api.InputPeerChannel).accessHash.toString() !== accessHashFor(accountId, peer)) {
      fail(400, 'CHANNEL_INVALID');
    }
    return { chatId, peer: peer! };
  }

  /** One round trip, uniformly in latencyMs; no timer at all when it is [0, 0]. */
  #latency(): Promise<void> | undefined {
    const [lo, hi] = this.options.latencyMs;
    return hi > 0 ? this.clock.sleep(lo + Math.random() * (hi - lo)) : undefined;
  }

  /** A channel as `accountId` sees it, with that account's access hash. */
  #channel(accountId: string, peer: string, knownId?: string): Api.Channel {
    const { id } = channelFor(peer);
    const channelId = knownId ?? String(id);
    this.#peerById.set(channelId, peer);
    return new Api.Channel({
      id: returnBigInt(channelId),
      accessHash: returnBigInt(accessHashFor(accountId, peer)),
      title: peer,
      photo: new Api.ChatPhotoEmpty(),
      date: 0,
      broadcast: true,
    });
  }

  async #send(accountId: string, req: Api.messages.SendMessage | Api.messages.SendMedia): Promise<unknown> {
    const requestedAt = this.clock.now();
    const startedAt = performance.timeOrigin + performance.now();
    const fail = failWith(req);
    const input = req.peer as Api.InputPeerChannel;
    // The account's Saved Messages are a chat of its own, named "me" in the log.
    const self = req.peer instanceof Api.InputPeerSelf;
    const chatId = self ? 'self' : input instanceof Api.InputPeerChannel ? String(input.channelId) : '';
    const randomId = String(req.randomId);
    const peer = self ? 'me' : this.#peerById.get(chatId) ?? `-100${chatId}`;
    const target = this.#targets.get(peer);
    const key = `${accountId}|${chatId}|${randomId}`;
    const attempt = (this.#attempts.get(key) ?? 0) + 1;
    this.#attempts.set(key, attempt);
    const faulty = target !== undefined && (target.times === undefined || attempt <= target.times);

    // Lost on the way: Telegram never sees it, so it is not in flight either.
    if (faulty && target.hang === 'before') return never();
    if (this.#inFlight.has(key)) {
      await this.#latency();
      fail(500, 'RANDOM_ID_DUPLICATE');
    }
    this.#inFlight.add(key);
    try {
      await this.#latency();
      if (faulty && target.processingMs) await this.clock.sleep(target.processingMs);
      // The network went away while the request travelled: no answer, nothing posted.
      if (this.isUnreachable(accountId)) return never();
      // Telegram has it now: the message's time, however long storing it takes.
      const acceptedAt = new Date(this.clock.now());
      if (this.#revoked.has(accountId)) fail(401, 'AUTH_KEY_UNREGISTERED');
      if (!chatId) fail(400, 'PEER_ID_INVALID');
      // A hash given to another account, or none (0), is refused as Telegram refuses it.
      if (this.#peerById.has(chatId) && input.accessHash.toString() !== accessHashFor(accountId, peer)) {
        fail(400, 'CHANNEL_INVALID');
      }
      const media = req instanceof Api.messages.SendMedia ? this.media.check(accountId, req.media, fail) : undefined;
      const posted = await this.#post(accountId, chatId, randomId, peer, target, faulty, fail, media, acceptedAt, req.message);
      this.sends.push({ accountId, peer, randomId, requestedAt, startedAt, at: this.clock.now(), duplicate: posted.duplicate });
      this.#inFlight.delete(key);
      if (faulty && target.hang === 'after') return never();
      return messageUpdates(
        this.clock.now(),
        req,
        self ? new Api.PeerUser({ userId: returnBigInt(1) }) : new Api.PeerChannel({ channelId: input.channelId }),
        posted.messageId,
      );
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /** Telegram's limits and injected errors, then the message is posted (or found posted). */
  async #post(
    accountId: string,
    chatId: string,
    randomId: string,
    peer: string,
    target: TargetBehaviour | undefined,
    faulty: boolean,
    fail: (code: number, message: string) => never,
    media?: string,
    acceptedAt?: Date,
    text?: string,
  ): Promise<PostedMessage> {
    const acct = this.#account(accountId);
    const now = this.clock.now();
    if (acct.floodUntil > now) fail(420, `FLOOD_WAIT_${Math.ceil((acct.floodUntil - now) / 1000)}`);
    const inj = this.options.floodAfter;
    if (inj && !acct.floodInjected && acct.sends >= inj.sends) {
      acct.floodInjected = true;
      acct.floodUntil = now + inj.seconds * 1000;
      fail(420, `FLOOD_WAIT_${inj.seconds}`);
    }
    while (acct.window.length && acct.window[0]! <= now - 1000) acct.window.shift();
    if (acct.window.length >= this.options.accountPerSecond) {
      acct.floodUntil = now + this.options.limitFloodSeconds * 1000;
      fail(420, `FLOOD_WAIT_${this.options.limitFloodSeconds}`);
    }
    if (this.options.peerFloodAfter !== undefined && acct.sends >= this.options.peerFloodAfter) fail(400, 'PEER_FLOOD');
    if (faulty && target?.error) fail(target.code ?? 400, target.error);
    let posts = this.#chatPosts.get(chatId);
    if (!posts) this.#chatPosts.set(chatId, posts = []);
    while (posts.length && posts[0]! <= now - 60_000) posts.shift();
    if (target?.slowmodeSeconds && posts.length) {
      const wait = Math.ceil((posts[posts.length - 1]! + target.slowmodeSeconds * 1000 - now) / 1000);
      if (wait > 0) fail(420, `SLOWMODE_WAIT_${wait}`);
    }
    if (posts.length >= this.options.chatPerMinute) fail(420, `FLOOD_WAIT_${Math.ceil((posts[0]! + 60_000 - now) / 1000)}`);

    // Counted on admission, before the store answers: sends admitted at the same moment see each
    // other, so a limit lets exactly its number through. A repeat (duplicate) gives its place back.
    acct.sends += 1;
    acct.window.push(now);
    posts.push(now);
    const unadmit = () => {
      acct.sends -= 1;
      for (const times of [acct.window, posts]) {
        const i = times.lastIndexOf(now); // gone if it already left its window
        if (i >= 0) times.splice(i, 1);
      }
    };
    const posted = await this.store.post(accountId, chatId, randomId, peer, media, acceptedAt, text).catch((err: unknown) => {
      unadmit();
      throw err;
    });
    if (posted.duplicate) unadmit();
    else {
      this.#posted += 1;
      this.#maybeGoOffline();
    }
    return posted;
  }

  /** The injected outage (options.unreachable) starts once enough messages were posted. */
  #maybeGoOffline(): void {
    const u = this.options.unreachable;
    if (!u || this.#outageInjected || this.#posted < u.afterSends) return;
    this.#outageInjected = true;
    const from = this.clock.now();
    const until = from + u.forMs;
    if (!u.accounts) this.setUnreachable(until);
    else for (const a of u.accounts) this.setUnreachable(until, a);
    // Kept with the messages: a check holds their acceptance times against it, exactly.
    this.store.outage({ from: new Date(from), until: new Date(until) }).catch(() => {});
  }
}

/** Throws what GramJS's MTProtoSender throws for an RPC error: RPCMessageToError's class for it. */
function failWith(request: Api.AnyRequest) {
  return (code: number, message: string): never => {
    throw errors.RPCMessageToError(new Api.RpcError({ errorCode: code, errorMessage: message }), request);
  };
}

/** Telegram's answer to a posted SendMessage or SendMedia: the id mapping and the new message. */
function messageUpdates(
  now: number,
  req: Api.messages.SendMessage | Api.messages.SendMedia,
  peerId: Api.TypePeer,
  messageId: number,
): Api.Updates {
  const date = Math.floor(now / 1000);
  return new Api.Updates({
    updates: [
      new Api.UpdateMessageID({ id: messageId, randomId: req.randomId! }),
      new Api.UpdateNewChannelMessage({
        message: new Api.Message({
          id: messageId,
          peerId,
          date,
          message: req.message,
          entities: req.entities,
          silent: req.silent,
          post: true,
        }),
        pts: messageId,
        ptsCount: 1,
      }),
    ],
    users: [],
    chats: [],
    date,
    seq: 0,
  });
}
