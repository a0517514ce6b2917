// The model of Telegram: every rule the stand-in enforces is here or in the modules it composes,
// each citing its source. It knows nothing of MTProto; the server turns its data into TL objects.
import { Accounts } from './accounts.ts';
import { AfterSend } from './after-send.ts';
import { assertMayPost, assertRight, assertSlowMode, assertVisible, newChannel, setSlowMode } from './channels.ts';
import { DEFAULT_CONFIG, type ModelConfig } from './config.ts';
import { badRequest, floodWait } from './errors.ts';
import { Faults } from './faults.ts';
import { RateLimits } from './limits.ts';
import { SignInLimits } from './sign-in-limits.ts';
import { Media, type MediaInput } from './media.ts';
import { appendMessage, historyOf, RandomIds, type SendResult } from './messages.ts';
import { AccessHashes, type PeerKind } from './peers.ts';
import type { Account, AdminRights, Channel, StoredMessage } from './state.ts';
import { Targets } from './targets.ts';
import { Transfers } from './transfers.ts';
import { TwoFactor } from './two-factor.ts';

export interface ModelOptions {
  config?: Partial<ModelConfig>;
  /** Milliseconds since the epoch; tests drive time through it. */
  now?: () => number;
  /**
   * The local stack's convenience, not Telegram's behaviour (off by default): a username nobody has
   * taken is created on its first resolution as a public broadcast channel that the accounts given
   * to administerAutoChannels() may post to. Channels created through MTProto never get it.
   */
  autoChannels?: boolean;
}

export type Resolved = { kind: 'user'; user: Account } | { kind: 'channel'; channel: Channel };

/**
 * core.telegram.org/api/peers, "Access hash": the zero access hash "must be used by bots when only
 * a min access hash (or no access hash) is available locally"; a user with only an id "cannot
 * interact with that peer".
 */
const zeroHashOfBot = (viewer: Account, accessHash: bigint) => !!viewer.bot && accessHash === 0n;

export class TelegramModel {
  readonly accounts = new Accounts();
  readonly faults = new Faults();
  readonly twoFactor = new TwoFactor();
  readonly transfers = new Transfers();
  readonly targets: Targets = new Targets(this);
  readonly afterSend: AfterSend = new AfterSend(this);
  readonly config: ModelConfig;
  readonly now: () => number;
  /** Uploads, photos and documents (./media.ts). */
  readonly media: Media;
  /** Code lifetime and auth.sendCode floods (./sign-in-limits.ts). */
  readonly signIn: SignInLimits;
  private readonly hashes = new AccessHashes();
  private readonly limits = new RateLimits();
  private readonly randomIds = new RandomIds();
  private readonly channels = new Map<bigint, Channel>();
  private nextChannelId = 2_000_000n;
  readonly autoChannels: boolean;
  private readonly autoAdmins = new Set<bigint>();
  private readonly autoChannelIds = new Set<bigint>();

  constructor(opts: ModelOptions = {}) {
    this.config = { ...DEFAULT_CONFIG, ...opts.config };
    this.now = opts.now ?? Date.now;
    this.media = new Media(this.config.uploads, this.now, this.faults);
    this.signIn = new SignInLimits(() => this.config.signIn, this.now);
    this.autoChannels = opts.autoChannels ?? false;
  }

  /** The account may post to every channel created on resolution (autoChannels), present and future. */
  administerAutoChannels(userId: bigint): void {
    this.autoAdmins.add(userId);
    for (const id of this.autoChannelIds) grantPosting(this.channels.get(id)!, userId);
  }

  accessHash(viewer: Account, kind: PeerKind, id: bigint): bigint {
    return this.hashes.of(viewer.id, kind, id);
  }

  /** A channel named by an InputChannel: unknown ids and another account's hash are CHANNEL_INVALID. */
  channel(viewer: Account, id: bigint, accessHash: bigint): Channel {
    const ch = this.channels.get(id) ?? badRequest('CHANNEL_INVALID');
    if (!zeroHashOfBot(viewer, accessHash)) this.hashes.check(viewer.id, 'channel', id, accessHash);
    return ch;
  }

  /** A user named by an InputUser: unknown ids and another account's hash are PEER_ID_INVALID. */
  user(viewer: Account, id: bigint, accessHash: bigint): Account {
    if (id === viewer.id) return viewer;
    const user = this.accounts.byUserId(id) ?? badRequest('PEER_ID_INVALID');
    if (!zeroHashOfBot(viewer, accessHash)) this.hashes.check(viewer.id, 'user', id, accessHash);
    return user;
  }

  /** contacts.resolveUsername, with its own per-account flood limit (see config.resolve). */
  async resolveUsername(viewer: Account, username: string): Promise<Resolved> {
    await this.faults.apply('contacts.resolveUsername', username);
    const wait = this.limits.take([[`resolve:${viewer.id}`, this.config.resolve]], this.now());
    if (wait > 0) floodWait(wait);
    const name = username.replace(/^@/, '');
    if (!this.config.usernamePattern.test(name)) badRequest('USERNAME_INVALID');
    const user = this.accounts.byUsername(name);
    if (user) return { kind: 'user', user };
    const channel = this.channelByUsername(name) ?? this.autoChannel(viewer, name) ?? badRequest('USERNAME_NOT_OCCUPIED');
    return { kind: 'channel', channel };
  }

  /** channels.createChannel: the caller becomes its creator (core.telegram.org/method/channels.createChannel). */
  async createChannel(creator: Account, title: string, broadcast: boolean): Promise<Channel> {
    await this.faults.apply('channels.createChannel');
    const ch = newChannel(this.nextChannelId++, creator.id, title, broadcast, Math.floor(this.now() / 1000));
    this.channels.set(ch.id, ch);
    return ch;
  }

  /** channels.updateUsername: only the creator may make a channel public (core.telegram.org/method/channels.updateUsername). */
  async updateChannelUsername(caller: Account, ch: Channel, username: string): Promise<void> {
    await this.faults.apply('channels.updateUsername', String(ch.id));
    if (ch.creatorId !== caller.id) badRequest('CHAT_ADMIN_REQUIRED');
    if (username === (ch.username ?? '')) badRequest('USERNAME_NOT_MODIFIED');
    this.claimUsername(username);
    ch.username = username || undefined;
  }

  /** account.updateUsername (core.telegram.org/method/account.updateUsername). */
  async updateUsername(caller: Account, username: string): Promise<void> {
    await this.faults.apply('account.updateUsername');
    if (username === (caller.username ?? '')) badRequest('USERNAME_NOT_MODIFIED');
    this.claimUsername(username);
    caller.username = username || undefined;
  }

  /** channels.editAdmin: needs add_admins; the creator's rights cannot be edited (core.telegram.org/method/channels.editAdmin). */
  async editAdmin(caller: Account, ch: Channel, user: Account, rights: AdminRights | undefined): Promise<void> {
    await this.faults.apply('channels.editAdmin', String(ch.id));
    assertRight(ch, caller.id, 'addAdmins');
    if (user.id === ch.creatorId) badRequest('USER_CREATOR');
    if (rights) {
      ch.admins.set(user.id, rights);
      ch.members.add(user.id);
    } else ch.admins.delete(user.id);
  }

  /**
   * channels.inviteToChannel: needs invite_users (core.telegram.org/method/channels.inviteToChannel);
   * answers the users whose privacy keeps them out (targets.ts, privacy.ts).
   */
  async invite(caller: Account, ch: Channel, users: Account[]): Promise<Account[]> {
    await this.faults.apply('channels.inviteToChannel', String(ch.id));
    assertRight(ch, caller.id, 'inviteUsers');
    const missing = users.filter((u) => !this.targets.privacy.mayInvite(caller, u));
    for (const u of users) {
      if (ch.banned.get(u.id) === 'kicked') badRequest('USER_KICKED');
      if (!missing.includes(u)) ch.members.add(u.id);
    }
    return missing;
  }

  /** channels.joinChannel: public chats only, unless invited (core.telegram.org/method/channels.joinChannel). */
  async join(caller: Account, ch: Channel): Promise<void> {
    await this.faults.apply('channels.joinChannel', String(ch.id));
    assertVisible(ch, caller.id);
    ch.members.add(caller.id);
  }

  /** channels.leaveChannel: the creator cannot leave without handing over (USER_CREATOR). */
  async leave(caller: Account, ch: Channel): Promise<void> {
    await this.faults.apply('channels.leaveChannel', String(ch.id));
    if (!ch.members.has(caller.id)) badRequest('USER_NOT_PARTICIPANT');
    if (ch.creatorId === caller.id) badRequest('USER_CREATOR');
    ch.members.delete(caller.id);
    ch.admins.delete(caller.id);
  }

  /** channels.editBanned: kick (view_messages) or restrict (send_messages); needs ban_users (core.telegram.org/api/rights). */
  async editBanned(caller: Account, ch: Channel, user: Account, ban: 'kicked' | 'restricted' | undefined): Promise<void> {
    await this.faults.apply('channels.editBanned', String(ch.id));
    assertRight(ch, caller.id, 'banUsers');
    if (user.id === ch.creatorId) badRequest('USER_ADMIN_INVALID');
    if (!ban) return void ch.banned.delete(user.id);
    ch.banned.set(user.id, ban);
    ch.admins.delete(user.id);
    if (ban === 'kicked') ch.members.delete(user.id);
  }

  /** channels.toggleSlowMode: supergroups only; needs ban_users like other restrictions. */
  async toggleSlowMode(caller: Account, ch: Channel, seconds: number): Promise<void> {
    await this.faults.apply('channels.toggleSlowMode', String(ch.id));
    assertRight(ch, caller.id, 'banUsers');
    setSlowMode(ch, seconds);
  }

  /**
   * messages.sendMessage (or messages.sendMedia with `media`, `text` its caption) to a channel or
   * supergroup; see messages.ts for random_id, channels.ts for rights and media.ts for files.
   */
  sendMessage(sender: Account, ch: Channel, text: string, randomId: bigint, media?: MediaInput, dcId = 0): Promise<SendResult> {
    assertVisible(ch, sender.id);
    return this.randomIds.once(sender, ch, randomId, async () => {
      await this.faults.apply(media ? 'messages.sendMedia' : 'messages.sendMessage', ch.username ?? String(ch.id));
      if (!media && !text.trim()) badRequest('MESSAGE_EMPTY');
      assertMayPost(ch, sender.id);
      // core.telegram.org/api/errors: PEER_FLOOD, "the current account is spamreported".
      if (sender.peerFlood) badRequest('PEER_FLOOD');
      assertSlowMode(ch, sender.id, this.now());
      const file = media && this.media.resolve(sender, media, dcId);
      this.takeSendLimits(sender, ch);
      return appendMessage(ch, sender.id, text, this.now(), file);
    });
  }

  /** messages.getHistory of a channel the account can see. */
  async history(viewer: Account, ch: Channel, offsetId: number, limit: number): Promise<StoredMessage[]> {
    await this.faults.apply('messages.getHistory', ch.username ?? String(ch.id));
    assertVisible(ch, viewer.id);
    return historyOf(ch, offsetId, limit);
  }

  /** Marks an account spam-restricted (its sends answer PEER_FLOOD) or lifts it: a fault hook. */
  setPeerFlood(userId: bigint, on: boolean): void {
    const account = this.accounts.byUserId(userId) ?? badRequest('USER_ID_INVALID');
    account.peerFlood = on;
  }

  /** The per-chat and per-account send limits; `chat` names the chat (a channel's id, or a user's or basic group's). */
  takeSendLimits(sender: Account, chat: { id: bigint } | string): void {
    const key = typeof chat === 'string' ? chat : String(chat.id);
    const wait = this.limits.take([
      [`chat:${sender.id}:${key}`, this.config.chatSend],
      [`send:${sender.id}`, this.config.accountSend],
    ], this.now());
    if (wait > 0) floodWait(wait);
  }

  /** Usernames are one namespace for users and channels; "" removes a username. */
  private claimUsername(username: string): void {
    if (!username) return;
    if (!this.config.usernamePattern.test(username)) badRequest('USERNAME_INVALID');
    if (this.accounts.byUsername(username) || this.channelByUsername(username)) badRequest('USERNAME_OCCUPIED');
  }

  /** With autoChannels: a new public channel named `username`, administered by the auto admins. */
  private autoChannel(viewer: Account, username: string): Channel | undefined {
    if (!this.autoChannels) return undefined;
    const creator = this.autoAdmins.values().next().value ?? viewer.id;
    const ch = newChannel(this.nextChannelId++, creator, username, true, Math.floor(this.now() / 1000));
    ch.username = username;
    this.channels.set(ch.id, ch);
    this.autoChannelIds.add(ch.id);
    for (const id of this.autoAdmins) grantPosting(ch, id);
    return ch;
  }

  private channelByUsername(username: string): Channel | undefined {
    const lower = username.toLowerCase();
    return [...this.channels.values()].find((c) => c.username?.toLowerCase() === lower);
  }
}

/** Makes the account an admin who may post and nothing else, as channels.editAdmin with only post_messages does. */
function grantPosting(ch: Channel, userId: bigint): void {
  if (ch.creatorId === userId) return;
  ch.admins.set(userId, { postMessages: true, addAdmins: false, inviteUsers: false, banUsers: false });
  ch.members.add(userId);
}
