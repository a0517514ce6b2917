// The GramJS adapter: messages.SendMessage with the delivery's random_id (client.sendMessage
// cannot take one), entities from gateway/format.ts, peers resolved once by the caller.
import { Api, TelegramClient, utils } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { StringSession } from 'telegram/sessions/index.js';
import { Logger, LogLevel } from 'telegram/extensions/Logger.js';
import { formatMessage } from './format.ts';
import { SessionNotAuthorizedError, type OutgoingMessage, type ResolvedPeer, type TelegramGateway } from './types.ts';

export interface GramJsSession {
  session: string;
  apiId: number;
  apiHash: string;
}

/** A client for a real session: the worker decides about waits, so GramJS never sleeps itself. */
export function createTelegramClient(s: GramJsSession): TelegramClient {
  return new TelegramClient(new StringSession(s.session), s.apiId, s.apiHash, {
    floodSleepThreshold: 0,
    // One try per invoke: retries are the worker's (same random_id, paced, recorded).
    requestRetries: 1,
    connectionRetries: 5,
    autoReconnect: true,
    baseLogger: new Logger(LogLevel.ERROR),
  });
}

function markedId(entity: Api.TypeChat | Api.TypeUser): ResolvedPeer {
  const accessHash = 'accessHash' in entity && entity.accessHash != null ? entity.accessHash.toString() : null;
  return { telegramId: utils.getPeerId(entity), accessHash };
}

function inputPeer(p: ResolvedPeer): Api.TypeInputPeer {
  const [id, type] = utils.resolveId(returnBigInt(p.telegramId));
  const accessHash = returnBigInt(p.accessHash ?? '0');
  if (type === Api.PeerChannel) return new Api.InputPeerChannel({ channelId: id, accessHash });
  if (type === Api.PeerChat) return new Api.InputPeerChat({ chatId: id });
  return new Api.InputPeerUser({ userId: id, accessHash });
}

/** The sent message's id from SendMessage's answer (Updates with UpdateMessageID, or a short form). */
export function sentMessageId(result: Api.TypeUpdates, randomId: string): number {
  if (result instanceof Api.UpdateShortSentMessage) return result.id;
  const updates = result instanceof Api.Updates || result instanceof Api.UpdatesCombined ? result.updates
    : result instanceof Api.UpdateShort ? [result.update] : [];
  for (const u of updates) if (u instanceof Api.UpdateMessageID && u.randomId?.toString() === randomId) return u.id;
  for (const u of updates) {
    if ((u instanceof Api.UpdateNewChannelMessage || u instanceof Api.UpdateNewMessage) && 'id' in u.message) return u.message.id;
  }
  throw new Error(`SendMessage answered without a message id (${result.className})`);
}

export class GramJsGateway implements TelegramGateway {
  readonly client: TelegramClient;
  readonly #connect: boolean;

  /** connect=false for a client whose transport is already in place (the simulator's). */
  constructor(client: TelegramClient, opts: { connect?: boolean } = {}) {
    this.client = client;
    this.#connect = opts.connect ?? true;
  }

  async start(): Promise<void> {
    if (this.#connect) await this.client.connect();
    // Never client.start(): that would prompt for a phone number. No session, no worker.
    if (!(await this.client.checkAuthorization())) throw new SessionNotAuthorizedError();
  }

  async resolvePeer(peer: string): Promise<ResolvedPeer> {
    if (peer.startsWith('@')) {
      const r = await this.client.invoke(new Api.contacts.ResolveUsername({ username: peer.slice(1) }));
      const id = utils.getPeerId(r.peer);
      const entity = [...r.chats, ...r.users].find((e) => utils.getPeerId(e) === id);
      if (!entity) throw new Error(`ResolveUsername(${peer}) returned no entity`);
      return markedId(entity);
    }
    if (peer.startsWith('+')) {
      const r = await this.client.invoke(new Api.messages.CheckChatInvite({ hash: peer.slice(1) }));
      if (r instanceof Api.ChatInviteAlready || r instanceof Api.ChatInvitePeek) return markedId(r.chat);
      // An invite we have not joined: sending needs membership, and joining is the operator's call.
      throw Object.assign(new Error(`not a member of ${peer}: join the chat with this account first`), { errorMessage: 'INVITE_NOT_JOINED', code: 400 });
    }
    const [id, type] = utils.resolveId(returnBigInt(peer));
    if (type === Api.PeerChannel) {
      const r = await this.client.invoke(new Api.channels.GetChannels({ id: [new Api.InputChannel({ channelId: id, accessHash: returnBigInt(0) })] }));
      const chat = r.chats[0];
      if (!chat) throw Object.assign(new Error(`channel ${peer} not found`), { errorMessage: 'CHANNEL_INVALID', code: 400 });
      return markedId(chat);
    }
    if (type === Api.PeerChat) return { telegramId: peer, accessHash: null };
    // A user id without an access hash can only come from the session's entity cache.
    return markedId((await this.client.getEntity(returnBigInt(peer))) as Api.User);
  }

  async send(m: OutgoingMessage): Promise<{ messageId: number }> {
    const { message, entities } = formatMessage(m.text, m.parseMode);
    const result = await this.client.invoke(new Api.messages.SendMessage({
      peer: inputPeer(m.peer),
      message,
      entities,
      randomId: returnBigInt(m.randomId),
      silent: m.silent || undefined,
      noWebpage: !m.linkPreview || undefined,
    }));
    return { messageId: sentMessageId(result, m.randomId) };
  }

  async probe(): Promise<void> {
    await this.client.invoke(new Api.help.GetNearestDc());
  }

  async stop(): Promise<void> {
    await this.client.destroy().catch(() => {});
  }
}
