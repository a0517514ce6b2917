// How worker processes serving the database's accounts (no list of their own) share them. A live
// worker is one whose lock session (the connection holding its accounts' advisory locks) is open
// under SHARED_SESSION_NAME: presence and
// possession are the same connection, so a worker that dies (SIGKILL, a lost host noticed by
// Postgres) stops counting the instant its locks go, with no table and no timeout to tune. A
// worker that stops renames its session (STOPPING_SESSION_NAME) first, so the others grow their
// share before its locks are released. Each worker holds about its fair share of the accounts
// with work (a running campaign or a test send waiting), and of the idle ones apart, so that work
// starting on many accounts at once finds them already spread.

/** application_name of the lock session of a worker serving the database's accounts: counting them counts the workers sharing them. */
export const SHARED_SESSION_NAME = 'tg-worker shared';
/** ... of a worker with a list of its own (TELEGRAM_ACCOUNTS): it takes every listed account it can, and counts for no one. */
export const LISTED_SESSION_NAME = 'tg-worker locks';

export const lockSessionName = (config: { accounts: unknown[] | null }): string =>
  config.accounts ? LISTED_SESSION_NAME : SHARED_SESSION_NAME;
/** A worker that is stopping: no longer counted, its locks released once its sends are recorded. */
export const STOPPING_SESSION_NAME = 'tg-worker stopping';
/** NOTIFY payload (on pg-boss's channel): a worker started, stopped or handed accounts over. */
export const PRESENCE_NOTICE = 'tg-worker.presence';

export interface Kinds<T> {
  /** Accounts with a running campaign or a test send waiting. */
  busy: T;
  idle: T;
}

/**
 * What one of `workers` live workers holds of each kind: the ceiling of an even split (the shares
 * of all workers cover every account), within maxAccounts (busy accounts first).
 */
export function fairShare(workers: number, counts: Kinds<number>, maxAccounts: number): Kinds<number> {
  const w = Math.max(1, workers);
  const busy = Math.min(maxAccounts, Math.ceil(counts.busy / w));
  return { busy, idle: Math.min(maxAccounts - busy, Math.ceil(counts.idle / w)) };
}

export interface SharePlan {
  /** Held accounts over the share, to hand over (the first ones of each list). */
  give: string[];
  /** How many more of each kind this worker may lock. */
  room: Kinds<number>;
}

/** `held`: the accounts this worker holds and keeps, of each kind, those best handed over first. */
export function planShare(held: Kinds<string[]>, share: Kinds<number>): SharePlan {
  const over = (ids: string[], n: number) => ids.slice(0, Math.max(0, ids.length - n));
  return {
    give: [...over(held.busy, share.busy), ...over(held.idle, share.idle)],
    room: { busy: Math.max(0, share.busy - held.busy.length), idle: Math.max(0, share.idle - held.idle.length) },
  };
}

/** A copy in random order: workers trying the same free accounts mostly try different ones first. */
export function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
