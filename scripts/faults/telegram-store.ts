// "Telegram's" memory in the fault scenarios: the simulator's posts live in a Postgres of its
// own, durable (fsync and synchronous commit on), that no scenario stops or kills. Telegram does
// not live in our database: a crash of the database under test (whose test cluster may run
// with fsync off) must not erase what "Telegram" posted, or the audit would measure the stand-in.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../lib/embedded-postgres.ts';
import { withClient } from '../lib/database.ts';
import { PostgresMessageStore } from '../../worker/src/simulator/store.ts';
import { TelegramSimulator } from '../../worker/src/simulator/telegram-simulator.ts';
import type { TelegramSide } from './stand-in.ts';

export interface TelegramStoreCluster {
  /** A fresh database for one scenario's simulator (SIMULATOR_DATABASE_URL). */
  createDatabase(): Promise<{ url: string; drop(): Promise<void> }>;
  stop(): Promise<void>;
}

export async function startTelegramStore(): Promise<TelegramStoreCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tg-telegram-store-'));
  const server = await startEmbeddedPostgres({ dataDir, persistent: false, fast: false });
  const admin = server.adminUrl;
  return {
    async createDatabase() {
      const name = `tg_telegram_${process.pid}_${randomBytes(3).toString('hex')}`;
      await withClient(admin, (c) => c.query(`create database ${name}`));
      const url = new URL(admin);
      url.pathname = `/${name}`;
      return {
        url: url.toString(),
        drop: () => withClient(admin, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => {}),
      };
    },
    async stop() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function withStore<T>(url: string, fn: (s: PostgresMessageStore) => Promise<T>): Promise<T> {
  const store = new PostgresMessageStore(url);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** A simulator scenario's Telegram: a fresh database of the store's cluster for its workers' simulators. */
export async function simulatorSide(cluster: TelegramStoreCluster): Promise<TelegramSide> {
  const db = await cluster.createDatabase();
  return {
    storeUrl: db.url,
    workerEnv: { SIMULATOR_DATABASE_URL: db.url },
    posts: () =>
      withStore(db.url, async (s) => (await s.messages()).map((m) => ({ peer: m.peer, at: new Date(m.at).getTime() }))),
    counts: () =>
      withStore(db.url, async (s) => {
        const counts = await s.countsByPeer();
        // A chat known to the simulator only by id (a restarted worker sent to a peer it resolved
        // before the restart, so this process's simulator never saw the name) is labelled -100<id>.
        return (peer) => counts.get(peer) ?? counts.get(TelegramSimulator.markedIdFor(peer)) ?? 0;
      }),
    heal() {},
    close: () => db.drop(),
  };
}
