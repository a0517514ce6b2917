// Join limits of the Realtime stand-in (docs/decisions.md, "Realtime join limits"). Hosted
// Realtime limits a project's channels per connection and joins per second, and refuses with the
// replies below. Here every user of the product shares one project, so the rates are kept per
// socket and per user, and the authorization checks, which share a few database connections, are
// taken from the users in turn: one user's backlog never delays another's join by more than one
// check per connection.

export interface JoinLimits {
  /** Channels joined or joining on one socket (Realtime: channels per connection). */
  channelsPerSocket: number;
  /** phx_join frames one socket may send per second. */
  joinsPerSocketPerSecond: number;
  /** Joins one user (the token's sub) may make per second, over all their sockets. */
  joinsPerUserPerSecond: number;
  /** Sockets on which one user may hold or ask for channels at once. */
  socketsPerUser: number;
  /** Authorization checks of one user waiting for a database connection. */
  queuedChecksPerUser: number;
}

export const DEFAULT_JOIN_LIMITS: JoinLimits = {
  channelsPerSocket: 100,
  joinsPerSocketPerSecond: 100,
  joinsPerUserPerSecond: 100,
  socketsPerUser: 10,
  queuedChecksPerUser: 20,
};

/** Realtime's join replies for these limits, word for word. */
export const LIMIT_REASONS = {
  tooManyChannels: 'ChannelRateLimitReached: Too many channels',
  tooManyJoins: 'ClientJoinRateLimitReached: Too many joins per second',
  tooManyConnections: 'ConnectionRateLimitReached: Too many connected users',
} as const;

/** At most `limit` events per key in any window of one second of `now()`. */
export class RateWindow {
  private readonly times = new Map<string, number[]>();
  private readonly limit: number;
  private readonly now: () => number;
  constructor(limit: number, now: () => number) {
    this.limit = limit;
    this.now = now;
  }

  /** Counts one event of `key` and says whether it is within the limit. */
  take(key: string): boolean {
    const t = this.now();
    const recent = (this.times.get(key) ?? []).filter((at) => at > t - 1000);
    const ok = recent.length < this.limit;
    if (ok) recent.push(t);
    if (recent.length) this.times.set(key, recent);
    else this.times.delete(key);
    return ok;
  }

  forget(key: string): void {
    this.times.delete(key);
  }
}

export class QueueFull extends Error {}

interface Task {
  run(): Promise<void>;
}

/**
 * Runs at most `slots` tasks at once, taking the next one from each user in turn (round robin),
 * with at most `perUser` waiting per user: a user past that is refused (QueueFull) at once.
 */
export class FairScheduler {
  private readonly queues = new Map<string, Task[]>();
  private running = 0;
  private readonly slots: number;
  private readonly perUser: number;
  constructor(slots: number, perUser: number) {
    this.slots = slots;
    this.perUser = perUser;
  }

  run<T>(user: string, work: () => Promise<T>): Promise<T> {
    const queue = this.queues.get(user) ?? [];
    if (queue.length >= this.perUser) return Promise.reject(new QueueFull(user));
    return new Promise<T>((resolve, reject) => {
      queue.push({ run: () => work().then(resolve, reject) });
      this.queues.set(user, queue);
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.slots && this.queues.size) {
      // A Map iterates in insertion order: the user served goes to the back of the line.
      const [user, queue] = this.queues.entries().next().value!;
      this.queues.delete(user);
      const task = queue.shift()!;
      if (queue.length) this.queues.set(user, queue);
      this.running++;
      void task.run().finally(() => {
        this.running--;
        this.pump();
      });
    }
  }
}

/** What the gate needs to know of a socket. */
export interface GatedSocket {
  id: string;
  channels: ReadonlyMap<string, unknown>;
  /** Topics whose join is under way. */
  joining: Set<string>;
  /** Users who asked for a channel on it. */
  users: Set<string>;
}

/** The limits of one Realtime server, checked in Realtime's order. */
export class JoinGate {
  readonly checks: FairScheduler;
  private readonly limits: JoinLimits;
  private readonly socketJoins: RateWindow;
  private readonly userJoins: RateWindow;
  private readonly socketsOf = new Map<string, Set<GatedSocket>>();

  constructor(limits: JoinLimits, now: () => number, slots: number) {
    this.limits = limits;
    this.socketJoins = new RateWindow(limits.joinsPerSocketPerSecond, now);
    this.userJoins = new RateWindow(limits.joinsPerUserPerSecond, now);
    this.checks = new FairScheduler(slots, limits.queuedChecksPerUser);
  }

  /** Before the token is read: the socket's join rate and channel count. */
  admitJoin(sock: GatedSocket, topic: string): string | undefined {
    if (!this.socketJoins.take(sock.id)) return LIMIT_REASONS.tooManyJoins;
    const held = sock.channels.size + sock.joining.size - (sock.channels.has(topic) ? 1 : 0);
    if (held >= this.limits.channelsPerSocket) return LIMIT_REASONS.tooManyChannels;
  }

  /** Once the token names its user: that user's sockets and join rate. */
  admitUser(sock: GatedSocket, user: string): string | undefined {
    const sockets = this.socketsOf.get(user) ?? new Set();
    if (!sockets.has(sock) && sockets.size >= this.limits.socketsPerUser) return LIMIT_REASONS.tooManyConnections;
    if (!this.userJoins.take(user)) return LIMIT_REASONS.tooManyJoins;
    this.socketsOf.set(user, sockets.add(sock));
    sock.users.add(user);
  }

  /** A socket closed: it counts no more. */
  release(sock: GatedSocket): void {
    this.socketJoins.forget(sock.id);
    for (const user of sock.users) {
      this.socketsOf.get(user)?.delete(sock);
      if (this.socketsOf.get(user)?.size === 0) this.socketsOf.delete(user);
    }
  }
}
