// The port between the delivery logic and Telegram. Errors are thrown as GramJS errors
// (errors.FloodWaitError, RPCError, ...) and classified by ../errors.ts.

/** A peer Telegram resolved: Bot-API style marked id (-100… channel, -… chat, user id) and hash. */
export interface ResolvedPeer {
  telegramId: string;
  accessHash: string | null;
}

/** The account's own Saved Messages (where test sends go). */
export const SAVED_MESSAGES: ResolvedPeer = { telegramId: 'me', accessHash: null };

export type ParseMode = 'html' | 'markdown' | 'plain';

export type MediaKind = 'photo' | 'video' | 'document';

/** A file to upload to Telegram once (per campaign and account). */
export interface MediaFile {
  kind: MediaKind;
  name: string;
  mimeType: string;
  bytes: Uint8Array;
}

/** What messages.uploadMedia answered: the photo or document that every send then refers to. */
export interface MediaRef {
  kind: MediaKind;
  id: string;
  accessHash: string;
  /** Base64; Telegram may stop taking it (FILE_REFERENCE_EXPIRED): then upload again. */
  fileReference: string;
}

/** Telegram's limits on what an account may upload: photos 10 MB, other files 2 GB. */
export const UPLOAD_LIMIT_BYTES: Record<MediaKind, number> = {
  photo: 10 * 1024 * 1024,
  video: 2000 * 1024 * 1024,
  document: 2000 * 1024 * 1024,
};

export interface OutgoingMessage {
  peer: ResolvedPeer;
  text: string;
  parseMode: ParseMode;
  silent: boolean;
  linkPreview: boolean;
  /** The delivery's fixed random_id (signed 64-bit, as a decimal string): Telegram dedups on it. */
  randomId: string;
  /** Sent with messages.sendMedia, `text` as its caption. */
  media?: MediaRef;
}

/** A new text for a sent post (its caption, for a post with media), and its file for a post with media. */
export interface MessageEdit {
  peer: ResolvedPeer;
  messageId: number;
  text: string;
  parseMode: ParseMode;
  linkPreview: boolean;
  /** Given with messages.editMessage's `media`: Telegram replaces the post's file when it differs. */
  media?: MediaRef;
}

/** One post's figures as messages.getMessagesViews answers them (null: not given, e.g. a deleted post). */
export interface PostViews {
  views: number | null;
  forwards: number | null;
  replies: number | null;
}

export interface TelegramGateway {
  /**
   * Connects and checks the session is authorized; rejects (fails closed) otherwise, with Telegram's
   * answer (a 401 for a session that is gone; anything else is not a verdict on the session).
   */
  start(): Promise<void>;
  /** Looks a peer up once ("@name", "+invite", "-100…"); the caller stores the answer. */
  resolvePeer(peer: string): Promise<ResolvedPeer>;
  send(message: OutgoingMessage): Promise<{ messageId: number }>;
  /** messages.editMessage; Telegram answers MESSAGE_NOT_MODIFIED when the post already reads so. */
  editMessage(edit: MessageEdit): Promise<void>;
  /** channels.deleteMessages in a channel or supergroup, else messages.deleteMessages for everyone. */
  deleteMessage(peer: ResolvedPeer, messageId: number): Promise<void>;
  /** messages.updatePinnedMessage (unpin: takes the pin off; silent: no notification). */
  pinMessage(peer: ResolvedPeer, messageId: number, opts: { silent: boolean; unpin: boolean }): Promise<void>;
  /** Uploads a file once (upload.saveFilePart + messages.uploadMedia); sends then refer to it. */
  uploadMedia(file: MediaFile): Promise<MediaRef>;
  /**
   * Views, forwards and replies of up to 100 posts of one channel, in the order asked, without
   * counting a view (messages.getMessagesViews with increment false).
   */
  getMessagesViews(peer: ResolvedPeer, messageIds: number[]): Promise<PostViews[]>;
  /**
   * Reactions of up to 100 posts of one channel, in the order asked: each post's reaction counts
   * summed (messages.getMessagesReactions); null for a post Telegram answered nothing about.
   */
  getMessagesReactions(peer: ResolvedPeer, messageIds: number[]): Promise<(number | null)[]>;
  /** A cheap request that succeeds only while Telegram answers this session (help.getNearestDc). */
  probe(): Promise<void>;
  /** A new connection for the calls that follow (after a probe got no answer); calls in flight fail, outcome unknown. */
  reconnect(): Promise<void>;
  stop(): Promise<void>;
}
