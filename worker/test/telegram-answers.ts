// Telegram's documented error answers, injected below GramJS's real TelegramClient.invoke: a
// stand-in for the MTProtoSender that answers a request either through the simulator or with an
// rpc_error turned into an error by GramJS's own RPCMessageToError, as MTProtoSender's
// _handleRPCResult does (node_modules/telegram/network/MTProtoSender.js). Everything above the
// sender (invoke's retry, flood, migration and MSG_WAIT branches) runs as in production.
// These tests move onto the MTProto stand-in (a server speaking MTProto over TCP, under
// scripts/telegram/) once it exists; until then this sender is where Telegram's answers enter.
import { Api, errors, type TelegramClient } from 'telegram';
import { createTelegramClient, GramJsGateway } from '../src/gateway/gramjs-gateway.ts';
import type { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';

/** Telegram's rpc_error#2144ca19 error_code:int error_message:string (core.telegram.org/api/errors). */
export interface RpcAnswer {
  code: number;
  name: string;
}

/** Which answer a request gets: an rpc_error, or undefined for the simulator's (or an empty State). */
export type Answering = (request: Api.AnyRequest) => RpcAnswer | undefined;

interface StateLike {
  request: Api.AnyRequest;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

class AnsweringSender {
  userDisconnected = false;
  _disconnected = false;
  readonly requests: Api.AnyRequest[] = [];
  readonly #answer: Answering;
  readonly #sim: TelegramSimulator | undefined;
  readonly #accountId: string;
  constructor(answer: Answering, sim?: TelegramSimulator, accountId = 'acct') {
    this.#answer = answer;
    this.#sim = sim;
    this.#accountId = accountId;
  }
  isConnected(): boolean {
    return true;
  }
  addStateToQueue(state: StateLike): void {
    this.requests.push(state.request);
    const a = this.#answer(state.request);
    if (a) {
      // What MTProtoSender does with an rpc_result carrying an rpc_error.
      const rpc = new Api.RpcError({ errorCode: a.code, errorMessage: a.name });
      queueMicrotask(() => state.reject(errors.RPCMessageToError(rpc, state.request)));
    } else if (this.#sim) {
      this.#sim.handle(this.#accountId, state.request).then((r) => state.resolve(r), (e: unknown) => state.reject(e));
    } else {
      queueMicrotask(() => state.resolve(new Api.updates.State({ pts: 1, qts: 0, date: 0, seq: 0, unreadCount: 0 })));
    }
  }
  async disconnect(): Promise<void> {}
}

/** A production-configured TelegramClient (createTelegramClient) whose sender answers as `answer` says. */
export function answeringClient(answer: Answering, sim?: TelegramSimulator, accountId?: string) {
  const client = createTelegramClient({ session: '', apiId: 1, apiHash: 'test' });
  const sender = new AnsweringSender(answer, sim, accountId);
  const internals = client as unknown as { _sender: AnsweringSender; _connectedDeferred: { resolve(): void } };
  internals._sender = sender;
  internals._connectedDeferred.resolve();
  return { client: client as TelegramClient, sender };
}

export function answeringGateway(answer: Answering, sim?: TelegramSimulator, accountId?: string) {
  const { client, sender } = answeringClient(answer, sim, accountId);
  return { gateway: new GramJsGateway(client, { connect: false }), sender };
}

/** Answers requests of class `cls` (e.g. Api.messages.SendMessage) with `answer`, the first `times` of them. */
export function answerFor(cls: abstract new (...a: never[]) => unknown, answer: RpcAnswer, times = Infinity): Answering {
  let n = 0;
  return (request) => (request instanceof cls && n++ < times ? answer : undefined);
}
