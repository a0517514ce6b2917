// The port between the delivery logic and Telegram. Errors are thrown as GramJS errors
// (errors.FloodWaitError, RPCError, ...) and classified by ../errors.ts.

/** A peer Telegram resolved: Bot-API style marked id (-100… channel, -… chat, user id) and hash. */
export interface ResolvedPeer {
  telegramId: string;
  accessHash: string | null;
}

export type ParseMode = 'html' | 'markdown' | 'plain';

export interface OutgoingMessage {
  peer: ResolvedPeer;
  text: string;
  parseMode: ParseMode;
  silent: boolean;
  linkPreview: boolean;
  /** The delivery's fixed random_id (signed 64-bit, as a decimal string): Telegram dedups on it. */
  randomId: string;
}

export interface TelegramGateway {
  /** Connects and checks the session is authorized; rejects (fails closed) otherwise. */
  start(): Promise<void>;
  /** Looks a peer up once ("@name", "+invite", "-100…"); the caller stores the answer. */
  resolvePeer(peer: string): Promise<ResolvedPeer>;
  send(message: OutgoingMessage): Promise<{ messageId: number }>;
  /** A cheap request that succeeds only while Telegram answers this session (help.getNearestDc). */
  probe(): Promise<void>;
  stop(): Promise<void>;
}

/** The session is not (or no longer) authorized; thrown by start(). */
export class SessionNotAuthorizedError extends Error {
  readonly errorMessage = 'AUTH_KEY_UNREGISTERED';
  constructor(message = 'Telegram session is not authorized (revoked or logged out): run `npm run login`') {
    super(message);
  }
}
