// The GramJS adapter: messages.SendMessage (or messages.SendMedia with an uploaded file) with the
// delivery's random_id (client.sendMessage/sendFile cannot take one), entities from
// gateway/format.ts, peers resolved once by the caller.
import { Api, errors, TelegramClient, utils } from 'telegram';
import { generateRandomLong, returnBigInt } from 'telegram/Helpers.js';
import type { TelegramClientParams } from 'telegram/client/telegramBaseClient.js';
import { StringSession } from 'telegram/sessions/index.js';
import { Logger, LogLevel } from 'telegram/extensions/Logger.js';
import { createHash } from 'node:crypto';
import { classify, telegramName } from '../errors.ts';
import { type AccountProxy, gramjsProxy } from '../sessions/proxy.ts';
import { formatMessage } from './format.ts';
import { serverConnection, TelegramServer, trustServerKey } from './server.ts';
import {
  type MediaFile,
  type MediaRef,
  type MessageEdit,
  type OutgoingMessage,
  type PostViews,
  type ResolvedPeer,
  type TelegramGateway,
  UPLOAD_LIMIT_BYTES,
} from './types.ts';

/**
 * What Telegram answered each request, by request object. GramJS's MTProtoSender turns every
 * rpc_error into an error with RPCMessageToError (errors/index.js), which keeps only a class for
 * some answers (FLOOD_PREMIUM_WAIT_X becomes a FloodWaitError like FLOOD_WAIT_X, MSG_WAIT_X a
 * MsgWaitError), and TelegramClient.invoke (client/users.js) swallows others after acting on them
 * (RPC_CALL_FAIL, RPC_MCGET_FAIL and 5xx: sleeps 2 s; USER_MIGRATE_X: switches DC; MSG_WAIT_X:
 * waits), throwing "Request was unsuccessful 1 time(s)". Recording the answer where GramJS reads
 * it lets the adapter hand on Telegram's own error name and code.
 */
const answers = new WeakMap<object, { code: number; name: string }>();
const gramjsErrors = errors as unknown as { RPCMessageToError: (e: Api.RpcError, request: Api.AnyRequest) => Error };
const toError = gramjsErrors.RPCMessageToError;
gramjsErrors.RPCMessageToError = (e, request) => {
  answers.set(request, { code: e.errorCode, name: e.errorMessage });
  return toError(e, request);
};

/** What invoke threw for `request`, as Telegram answered it (an RPCError with its name and code). */
export function telegramAnswer(request: Api.AnyRequest, err: unknown): unknown {
  const answer = answers.get(request);
  answers.delete(request);
  if (!answer) return err; // no answer from Telegram: a dropped connection, a timeout
  if (telegramName(err) === answer.name) return err; // GramJS's class kept the name
  return new errors.RPCError(answer.name, request, answer.code);
}

export interface GramJsSession {
  session: string;
  apiId: number;
  apiHash: string;
  /** Telegram's test DCs or a stand-in; unset: Telegram's production DCs. */
  server?: TelegramServer;
  /** The account's proxy: every connection of the client goes through it. */
  proxy?: AccountProxy | null;
  /** Local development and tests only: the proxy may be a loopback or private address. */
  proxyAllowPrivate?: boolean;
}

/**
 * A client for a real session: the worker decides about waits, so GramJS never sleeps itself.
 * `overrides`: e.g. a sign-in's client retries once more, after a PHONE_MIGRATE's DC switch.
 */
export function createTelegramClient(s: GramJsSession, overrides: Partial<TelegramClientParams> = {}): TelegramClient {
  if (s.server) trustServerKey(s.server.publicKeyPem);
  return new TelegramClient(new StringSession(s.session), s.apiId, s.apiHash, {
    ...(s.server ? { connection: serverConnection(s.server) } : {}),
    // With an MTProxy GramJS connects with its own MTProxy transport, whatever `connection` says:
    // the proxy, not the client, reaches the DC named in the transport's header.
    ...(s.proxy ? gramjsProxy(s.proxy, s.proxyAllowPrivate ?? false) : {}),
    floodSleepThreshold: 0,
    // One try per invoke: retries are the worker's (same random_id, paced, recorded).
    requestRetries: 1,
    connectionRetries: 5,
    autoReconnect: true,
    baseLogger: new Logger(LogLevel.ERROR),
    ...overrides,
  });
}

function markedId(entity: Api.TypeChat | Api.TypeUser): ResolvedPeer {
  const accessHash = 'accessHash' in entity && entity.accessHash != null ? entity.accessHash.toString() : null;
  return { telegramId: utils.getPeerId(entity), accessHash };
}

function inputPeer(p: ResolvedPeer): Api.TypeInputPeer {
  if (p.telegramId === 'me') return new Api.InputPeerSelf();
  const [id, type] = utils.resolveId(returnBigInt(p.telegramId));
  const accessHash = returnBigInt(p.accessHash ?? '0');
  if (type === Api.PeerChannel) return new Api.InputPeerChannel({ channelId: id, accessHash });
  if (type === Api.PeerChat) return new Api.InputPeerChat({ chatId: id });
  return new Api.InputPeerUser({ userId: id, accessHash });
}

/** A peer id Telegram would refuse: a permanent failure with Telegram's own code for it. */
function peerInvalid(peer: string, channel: boolean, why: string): Error {
  return Object.assign(new Error(`${peer}: ${why}`), {
    errorMessage: channel ? 'CHANNEL_INVALID' : 'PEER_ID_INVALID',
    code: 400,
  });
}

const updatesOf = (result: Api.TypeUpdates): Api.TypeUpdate[] =>
  result instanceof Api.Updates || result instanceof Api.UpdatesCombined
    ? result.updates
    : result instanceof Api.UpdateShort
    ? [result.update]
    : [];

/**
 * Each asked post's reactions summed over its results (one reactionCount per reaction kind,
 * core.telegram.org/constructor/messageReactions) from messages.getMessagesReactions' Updates; a
 * post with no updateMessageReactions in the answer (deleted) is null.
 */
export function reactionTotals(result: Api.TypeUpdates, messageIds: number[]): (number | null)[] {
  const total = new Map<number, number>();
  for (const u of updatesOf(result)) {
    if (u instanceof Api.UpdateMessageReactions) {
      total.set(u.msgId, u.reactions.results.reduce((sum, c) => sum + c.count, 0));
    }
  }
  return messageIds.map((id) => total.get(id) ?? null);
}

/** The sent message's id from SendMessage's answer (Updates with UpdateMessageID, or a short form). */
export function sentMessageId(result: Api.TypeUpdates, randomId: string): number {
  if (result instanceof Api.UpdateShortSentMessage) return result.id;
  const updates = updatesOf(result);
  for (const u of updates) if (u instanceof Api.UpdateMessageID && u.randomId?.toString() === randomId) return u.id;
  for (const u of updates) {
    if ((u instanceof Api.UpdateNewChannelMessage || u instanceof Api.UpdateNewMessage) && 'id' in u.message) return u.message.id;
  }
  throw new Error(`SendMessage answered without a message id (${result.className})`);
}

/** Parts of 512 KB, Telegram's largest; files over 10 MB go as "big" files (upload.saveBigFilePart). */
const PART_BYTES = 512 * 1024;
const BIG_FILE_BYTES = 10 * 1024 * 1024;
/** Throttled uploads kept to resume (one per file a campaign is waiting to upload; the oldest go first). */
const MAX_UNFINISHED = 100;

/** An upload in progress: its file_id and the next part to save. */
interface Unfinished {
  fileId: Api.long;
  next: number;
}

interface PartPlan {
  bytes: Uint8Array;
  count: number;
  big: boolean;
}

const planOf = (file: MediaFile): PartPlan => ({
  bytes: file.bytes,
  count: Math.max(1, Math.ceil(file.bytes.length / PART_BYTES)),
  big: file.bytes.length > BIG_FILE_BYTES,
});

const contentKey = (file: MediaFile) =>
  createHash('sha256').update(file.kind).update('\0').update(file.name).update('\0').update(file.bytes).digest('hex');

/** The content types a photo campaign may have (check_media_kind), as file name extensions. */
const PHOTO_EXTENSIONS: Record<string, string> = { 'image/jpeg': '.jpg', 'image/png': '.png', 'image/webp': '.webp' };

/**
 * The name an upload is given. An uploaded photo whose name has no image extension is refused
 * with PHOTO_EXT_INVALID (messages.uploadMedia's errors; Telethon adds one for this reason), and a
 * Storage path need not have one: the photo's content type names it then.
 */
function uploadName(file: Pick<MediaFile, 'kind' | 'name' | 'mimeType'>): string {
  const ext = PHOTO_EXTENSIONS[file.mimeType];
  if (file.kind !== 'photo' || !ext || /\.(jpe?g|png|webp)$/i.test(file.name)) return file.name;
  return file.name + ext;
}

/** "FILE_PART_X_MISSING: Part X of the file is missing from storage" (core.telegram.org/api/files). */
const missingPart = (err: unknown) => /^FILE_PART_(\d+)_MISSING$/.exec(telegramName(err) ?? '')?.[1];

/** A file too large for its kind: refused before a byte is uploaded (a permanent failure). */
export function tooLarge(file: Pick<MediaFile, 'kind' | 'name'>, size: number): Error | null {
  const limit = UPLOAD_LIMIT_BYTES[file.kind];
  if (size <= limit) return null;
  return Object.assign(new Error(`${file.name} is ${size} bytes: Telegram takes a ${file.kind} of at most ${limit} bytes`), {
    errorMessage: 'MEDIA_TOO_BIG',
    code: 400,
  });
}

function inputMedia(m: MediaRef): Api.TypeInputMedia {
  const ref = {
    id: returnBigInt(m.id),
    accessHash: returnBigInt(m.accessHash),
    fileReference: Buffer.from(m.fileReference, 'base64'),
  };
  return m.kind === 'photo'
    ? new Api.InputMediaPhoto({ id: new Api.InputPhoto(ref) })
    : new Api.InputMediaDocument({ id: new Api.InputDocument(ref) });
}

function uploadedMedia(file: MediaFile, input: Api.TypeInputFile): Api.TypeInputMedia {
  if (file.kind === 'photo') return new Api.InputMediaUploadedPhoto({ file: input });
  const attributes: Api.TypeDocumentAttribute[] = [new Api.DocumentAttributeFilename({ fileName: file.name })];
  if (file.kind === 'video') {
    attributes.push(new Api.DocumentAttributeVideo({ duration: 0, w: 0, h: 0, supportsStreaming: true }));
  }
  return new Api.InputMediaUploadedDocument({
    file: input,
    mimeType: file.mimeType,
    attributes,
    forceFile: file.kind === 'document',
  });
}

function mediaRefOf(kind: MediaFile['kind'], media: Api.TypeMessageMedia): MediaRef {
  const item = media instanceof Api.MessageMediaPhoto
    ? media.photo
    : media instanceof Api.MessageMediaDocument
    ? media.document
    : undefined;
  if (!(item instanceof Api.Photo) && !(item instanceof Api.Document)) {
    throw new Error(`UploadMedia answered ${media.className} without a file`);
  }
  return {
    kind,
    id: item.id.toString(),
    accessHash: item.accessHash.toString(),
    fileReference: Buffer.from(item.fileReference).toString('base64'),
  };
}

/**
 * Fails the calls a closed connection carried, as a dropped connection would: an unknown outcome
 * to the worker, which resends a send itself with its random_id. GramJS would keep them pending
 * after disconnect + connect, and send them again only when its own reconnect next runs
 * (MTProtoSender _reconnect), maybe long after the worker's resend.
 */
function failInFlight(client: TelegramClient): void {
  const pending = client._sender?._pendingState;
  if (!pending) return;
  const states = pending.values();
  pending.clear();
  for (const s of states) s.reject(new Error('the connection was replaced before Telegram answered'));
}

export class GramJsGateway implements TelegramGateway {
  readonly client: TelegramClient;
  readonly #connect: boolean;
  #reconnecting: Promise<void> | null = null;
  #stopped = false;
  /** Uploads refused with FLOOD_PREMIUM_WAIT_X, by content: the next try resumes them. */
  readonly #unfinished = new Map<string, Unfinished>();
  #bot: Promise<boolean> | null = null;

  /** connect=false for a client whose transport is already in place (the simulator's). */
  constructor(client: TelegramClient, opts: { connect?: boolean } = {}) {
    this.client = client;
    this.#connect = opts.connect ?? true;
  }

  /**
   * Never client.start() (it would prompt for a phone number), nor client.checkAuthorization(): that
   * answers false on any error (client/auth.js), a FLOOD_WAIT or a dropped connection included. The
   * same call (updates.getState) is made here and its error thrown as Telegram answered it: only a
   * 401 (AUTH_KEY_UNREGISTERED, SESSION_REVOKED, …) or a ban means the session is gone.
   */
  async start(): Promise<void> {
    if (this.#connect) await this.client.connect();
    await this.#invoke(new Api.updates.GetState());
  }

  /** client.invoke, its error as Telegram answered it (telegramAnswer). */
  async #invoke<R extends Api.AnyRequest>(request: R): Promise<R['__response']> {
    try {
      return await this.client.invoke(request);
    } catch (err) {
      const answer = telegramAnswer(request, err);
      // Once for all the calls in flight that got the answer.
      if ((answer as errors.RPCError).errorMessage === 'CONNECTION_NOT_INITED') await (this.#reconnecting ?? this.reconnect());
      throw answer;
    }
  }

  /**
   * Disconnect, then connect (which sends initConnection first, client/TelegramClient.js connect):
   * what GramJS's invoke means to do on CONNECTION_NOT_INITED (its branch compares the error's
   * message, which for an RPC error reads "400: CONNECTION_NOT_INITED (caused by …)", so never
   * runs), and what the probe after one left unanswered needs (reachability.ts): a connection
   * opened while Telegram was unreachable can stay silent after it is back, until GramJS's ping
   * loop replaces it (its pings time out after 10 s, each).
   * Each call starts afresh: a connect waiting for an initConnection nobody answers must not hold
   * the next one. Calls in flight fail (failInFlight).
   */
  reconnect(): Promise<void> {
    if (!this.#connect || this.#stopped) return Promise.resolve();
    const run: Promise<void> = (async () => {
      await this.client.disconnect().catch(() => {});
      failInFlight(this.client);
      if (!this.#stopped) await this.client.connect().catch(() => {});
    })().finally(() => {
      if (this.#reconnecting === run) this.#reconnecting = null;
    });
    this.#reconnecting = run;
    return run;
  }

  async resolvePeer(peer: string): Promise<ResolvedPeer> {
    if (peer.startsWith('@')) {
      const r = await this.#invoke(new Api.contacts.ResolveUsername({ username: peer.slice(1) }));
      const id = utils.getPeerId(r.peer);
      const entity = [...r.chats, ...r.users].find((e) => utils.getPeerId(e) === id);
      if (!entity) throw new Error(`ResolveUsername(${peer}) returned no entity`);
      return markedId(entity);
    }
    if (peer.startsWith('+')) {
      const r = await this.#invoke(new Api.messages.CheckChatInvite({ hash: peer.slice(1) }));
      if (r instanceof Api.ChatInviteAlready || r instanceof Api.ChatInvitePeek) return markedId(r.chat);
      // An invite we have not joined: sending needs membership, and joining is the operator's call.
      throw Object.assign(new Error(`not a member of ${peer}: join the chat with this account first`), {
        errorMessage: 'INVITE_NOT_JOINED',
        code: 400,
      });
    }
    return this.#resolveId(peer);
  }

  /**
   * A numeric id ("-100…" channel, "-…" basic group, user id). Basic groups need no access hash;
   * users and channels need one of this account's own (core.telegram.org/api/peers, "Access hash":
   * with only an id "you cannot interact with that peer"), from the session's cache of what this
   * client received, or, for a bot only, the zero hash. A user account without one is refused here,
   * with the code Telegram would answer, rather than asking Telegram with a hash it must reject.
   */
  async #resolveId(peer: string): Promise<ResolvedPeer> {
    const [id, type] = utils.resolveId(returnBigInt(peer));
    if (type === Api.PeerChat) return { telegramId: peer, accessHash: null };
    const cached = this.#cachedPeer(peer);
    if (cached) return cached;
    const channel = type === Api.PeerChannel;
    if (!(await this.#isBot())) {
      throw peerInvalid(peer, channel, 'this account has no access hash for it; use its @username or an invite link');
    }
    const zero = returnBigInt(0);
    const found = channel
      ? (await this.#invoke(new Api.channels.GetChannels({ id: [new Api.InputChannel({ channelId: id, accessHash: zero })] })))
        .chats[0]
      : (await this.#invoke(new Api.users.GetUsers({ id: [new Api.InputUser({ userId: id, accessHash: zero })] })))[0];
    if (!found || found instanceof Api.UserEmpty) throw peerInvalid(peer, channel, 'not found');
    return markedId(found);
  }

  /**
   * The peer with the hash this client received for it earlier, if any: GramJS's entity cache,
   * which client.invoke fills from every answer's users and chats (client/users.js), keyed by
   * marked id. (session.getInputEntity would read a bare number as a phone or an unmarked id.)
   */
  #cachedPeer(peer: string): ResolvedPeer | null {
    try {
      const input = this.client._entityCache.get(returnBigInt(peer));
      const accessHash = 'accessHash' in input && input.accessHash != null ? input.accessHash.toString() : null;
      return accessHash ? { telegramId: peer, accessHash } : null;
    } catch {
      return null;
    }
  }

  /** Whether this session is a bot's (users.getUsers on self, once). */
  async #isBot(): Promise<boolean> {
    this.#bot ??= this.#invoke(new Api.users.GetUsers({ id: [new Api.InputUserSelf()] }))
      .then((users) => users[0] instanceof Api.User && !!users[0].bot)
      .catch((err: unknown) => {
        this.#bot = null;
        throw err;
      });
    return await this.#bot;
  }

  async send(m: OutgoingMessage): Promise<{ messageId: number }> {
    const { message, entities } = formatMessage(m.text, m.parseMode);
    const common = {
      peer: inputPeer(m.peer),
      message,
      entities,
      randomId: returnBigInt(m.randomId),
      silent: m.silent || undefined,
    };
    const result = await this.#invoke(
      m.media
        ? new Api.messages.SendMedia({ ...common, media: inputMedia(m.media) })
        : new Api.messages.SendMessage({ ...common, noWebpage: !m.linkPreview || undefined }),
    );
    return { messageId: sentMessageId(result, m.randomId) };
  }

  async editMessage(e: MessageEdit): Promise<void> {
    const { message, entities } = formatMessage(e.text, e.parseMode);
    await this.#invoke(
      new Api.messages.EditMessage({
        peer: inputPeer(e.peer),
        id: e.messageId,
        message,
        entities,
        noWebpage: !e.linkPreview || undefined,
        media: e.media && inputMedia(e.media),
      }),
    );
  }

  async deleteMessage(peer: ResolvedPeer, messageId: number): Promise<void> {
    const input = inputPeer(peer);
    await this.#invoke(
      input instanceof Api.InputPeerChannel
        ? new Api.channels.DeleteMessages({
          channel: new Api.InputChannel({ channelId: input.channelId, accessHash: input.accessHash }),
          id: [messageId],
        })
        : new Api.messages.DeleteMessages({ id: [messageId], revoke: true }),
    );
  }

  async pinMessage(peer: ResolvedPeer, messageId: number, opts: { silent: boolean; unpin: boolean }): Promise<void> {
    await this.#invoke(
      new Api.messages.UpdatePinnedMessage({
        peer: inputPeer(peer),
        id: messageId,
        silent: opts.silent || undefined,
        unpin: opts.unpin || undefined,
      }),
    );
  }

  /**
   * The parts go through client.invoke one by one, not client.uploadFile: that opens a sender of
   * its own and retries by itself, out of reach of the worker's timeouts and error handling.
   * FLOOD_PREMIUM_WAIT_X on a part means "the query must be automatically repeated by the client
   * after X seconds" (core.telegram.org/api/files): the upload is kept, and the next try of the
   * same file resumes at the refused part instead of starting over (which, under a byte allowance
   * smaller than the file, would be refused at the same place every time).
   */
  async uploadMedia(file: MediaFile): Promise<MediaRef> {
    const refused = tooLarge(file, file.bytes.length);
    if (refused) throw refused;
    const key = contentKey(file);
    // Taken out while in use: an upload of the same file meanwhile starts one of its own.
    const upload = this.#unfinished.get(key) ?? { fileId: generateRandomLong(true), next: 0 };
    this.#unfinished.delete(key);
    try {
      const plan = planOf(file);
      for (; upload.next < plan.count; upload.next++) await this.#savePart(upload.fileId, plan, upload.next);
      return mediaRefOf(file.kind, await this.#assemble(file, upload.fileId, plan));
    } catch (err) {
      if (classify(err).kind === 'upload_wait') this.#keep(key, upload);
      throw err;
    }
  }

  #keep(key: string, upload: Unfinished): void {
    this.#unfinished.set(key, upload);
    if (this.#unfinished.size > MAX_UNFINISHED) this.#unfinished.delete(this.#unfinished.keys().next().value!);
  }

  async #savePart(fileId: Api.long, plan: PartPlan, i: number): Promise<void> {
    const bytes = Buffer.from(plan.bytes.subarray(i * PART_BYTES, (i + 1) * PART_BYTES));
    await this.#invoke(
      plan.big
        ? new Api.upload.SaveBigFilePart({ fileId, filePart: i, fileTotalParts: plan.count, bytes })
        : new Api.upload.SaveFilePart({ fileId, filePart: i, bytes }),
    );
  }

  /**
   * messages.uploadMedia with the saved parts. A part Telegram no longer holds (its storage life is
   * "between several minutes and several hours") is FILE_PART_X_MISSING: "Try repeating the method
   * call to resave the part" (core.telegram.org/api/files), once per part at most.
   */
  async #assemble(file: MediaFile, fileId: Api.long, plan: PartPlan): Promise<Api.TypeMessageMedia> {
    const name = uploadName(file);
    const input = plan.big
      ? new Api.InputFileBig({ id: fileId, parts: plan.count, name })
      : new Api.InputFile({ id: fileId, parts: plan.count, name, md5Checksum: '' });
    for (let resaved = 0;; resaved++) {
      try {
        return await this.#invoke(
          new Api.messages.UploadMedia({ peer: new Api.InputPeerSelf(), media: uploadedMedia(file, input) }),
        );
      } catch (err) {
        const part = missingPart(err);
        if (part === undefined || resaved >= plan.count) throw err;
        await this.#savePart(fileId, plan, Number(part));
      }
    }
  }

  async getMessagesViews(peer: ResolvedPeer, messageIds: number[]): Promise<PostViews[]> {
    const r = await this.#invoke(
      new Api.messages.GetMessagesViews({ peer: inputPeer(peer), id: messageIds, increment: false }),
    );
    return r.views.map((v) => ({ views: v.views ?? null, forwards: v.forwards ?? null, replies: v.replies?.replies ?? null }));
  }

  async getMessagesReactions(peer: ResolvedPeer, messageIds: number[]): Promise<(number | null)[]> {
    const r = await this.#invoke(new Api.messages.GetMessagesReactions({ peer: inputPeer(peer), id: messageIds }));
    return reactionTotals(r, messageIds);
  }

  async probe(): Promise<void> {
    await this.#invoke(new Api.help.GetNearestDc());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.client.destroy().catch(() => {});
  }
}
