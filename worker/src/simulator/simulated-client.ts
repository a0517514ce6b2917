// A real GramJS TelegramClient whose network layer (the MTProtoSender) is replaced by the
// simulator. Everything above the sender runs as in production: invoke()'s retry and flood
// logic, request serialisation (RequestState calls getBytes()), entity processing.
import { TelegramClient } from 'telegram';
import { StringSession } from 'telegram/sessions/index.js';
import { Logger, LogLevel } from 'telegram/extensions/Logger.js';
import type { TelegramSimulator } from './telegram-simulator.ts';

interface RequestStateLike {
  request: Parameters<TelegramSimulator['handle']>[1];
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Duck-typed stand-in for GramJS's MTProtoSender: the only parts invoke() touches. */
class SimulatedSender {
  userDisconnected = false;
  _disconnected = false;
  readonly #sim: TelegramSimulator;
  readonly #accountId: string;
  constructor(sim: TelegramSimulator, accountId: string) {
    this.#sim = sim;
    this.#accountId = accountId;
  }
  isConnected(): boolean {
    return !this._disconnected;
  }
  addStateToQueue(state: RequestStateLike): void {
    this.#sim.handle(this.#accountId, state.request).then((r) => state.resolve(r), (e: unknown) => state.reject(e));
  }
  async disconnect(): Promise<void> {
    this._disconnected = true;
  }
}

/** A TelegramClient for `accountId` that talks to the simulator instead of Telegram's servers. */
export function simulatedClient(sim: TelegramSimulator, accountId: string): TelegramClient {
  const client = new TelegramClient(new StringSession(''), 1, 'simulator', {
    floodSleepThreshold: 0,
    requestRetries: 1,
    baseLogger: new Logger(LogLevel.NONE),
  });
  const internals = client as unknown as { _sender: SimulatedSender; _connectedDeferred: { resolve(): void } };
  internals._sender = new SimulatedSender(sim, accountId);
  internals._connectedDeferred.resolve();
  return client;
}
