// What the worker makes of Telegram's documented error answers (core.telegram.org/api/errors,
// /api/auth#frozen-accounts, /api/files), each injected below GramJS's real TelegramClient.invoke
// (./telegram-answers.ts) and read through the production GramJS adapter and classification.
import { Api } from 'telegram';
import { describe, expect, it } from 'vitest';
import { type Classified, classify } from '../src/errors.ts';
import { GramJsGateway } from '../src/gateway/gramjs-gateway.ts';
import type { OutgoingMessage } from '../src/gateway/types.ts';
import { outcomeOf } from '../src/outcomes.ts';
import { answerFor, answeringClient, answeringGateway, type RpcAnswer } from './telegram-answers.ts';

const message: OutgoingMessage = {
  peer: { telegramId: '-1001234567890', accessHash: '42' },
  text: 'x',
  parseMode: 'plain',
  silent: false,
  linkPreview: false,
  randomId: '7',
};

async function startAnswered(answer: RpcAnswer): Promise<Classified> {
  const { gateway } = answeringGateway(answerFor(Api.updates.GetState, answer));
  return classify(await gateway.start().then(() => null, (e: unknown) => e));
}

async function sendAnswered(answer: RpcAnswer): Promise<Classified> {
  const { gateway } = answeringGateway(answerFor(Api.messages.SendMessage, answer));
  return classify(await gateway.send(message).then(() => null, (e: unknown) => e));
}

const photo = { kind: 'photo' as const, name: 'p.jpg', mimeType: 'image/jpeg', bytes: new Uint8Array(10) };

describe('start: only an answer saying the session is not authorized means revoked', () => {
  it.each(
    [
      [{ code: 420, name: 'FLOOD_WAIT_30' }, { kind: 'flood_wait', seconds: 30, code: 'FLOOD_WAIT_30' }],
      [{ code: 500, name: 'INTERNAL' }, { kind: 'transient', code: 'INTERNAL' }],
      [{ code: 500, name: 'RPC_CALL_FAIL' }, { kind: 'transient', code: 'RPC_CALL_FAIL', unknown: true }],
      [{ code: -503, name: 'Timeout' }, { kind: 'transient', code: 'Timeout', unknown: true }],
      [{ code: 401, name: 'AUTH_KEY_UNREGISTERED' }, { kind: 'account', status: 'revoked', code: 'AUTH_KEY_UNREGISTERED' }],
      [{ code: 401, name: 'SESSION_REVOKED' }, { kind: 'account', status: 'revoked', code: 'SESSION_REVOKED' }],
      [{ code: 401, name: 'USER_DEACTIVATED_BAN' }, { kind: 'account', status: 'revoked', code: 'USER_DEACTIVATED_BAN' }],
    ] as const,
  )('updates.getState answered %o', async (answer, expected) => {
    expect(await startAnswered(answer)).toMatchObject(expected);
  });

  it('a session Telegram answers starts', async () => {
    const { gateway, sender } = answeringGateway(() => undefined);
    await gateway.start();
    expect(sender.requests.map((r) => r.className)).toEqual(['updates.GetState']);
  });
});

describe('420 answers', () => {
  it('FROZEN_METHOD_INVALID (no wait to honour) is an account state, not a 60 s FLOOD_WAIT', async () => {
    expect(await sendAnswered({ code: 420, name: 'FROZEN_METHOD_INVALID' })).toMatchObject({
      kind: 'account',
      status: 'frozen',
      code: 'FROZEN_METHOD_INVALID',
    });
    expect(await sendAnswered({ code: 400, name: 'FROZEN_PARTICIPANT_MISSING' })).toMatchObject({
      kind: 'account',
      status: 'frozen',
    });
  });

  it('FLOOD_PREMIUM_WAIT_X on an upload part delays uploads only, under its own name', async () => {
    const { gateway } = answeringGateway(answerFor(Api.upload.SaveFilePart, { code: 420, name: 'FLOOD_PREMIUM_WAIT_9' }));
    const c = classify(await gateway.uploadMedia(photo).then(() => null, (e: unknown) => e));
    expect(c).toMatchObject({ kind: 'upload_wait', seconds: 9, code: 'FLOOD_PREMIUM_WAIT_9' });
    const config = { retryBaseSeconds: 5, retryJitter: 0 };
    const o = outcomeOf(c, { attempts: 0, reachable: true, duplicates: 0, config });
    expect(o.outcome).toBe('reschedule'); // no attempt spent, no account flood
  });

  it('FLOOD_WAIT_X keeps its seconds and its name', async () => {
    expect(await sendAnswered({ code: 420, name: 'FLOOD_WAIT_12' })).toMatchObject({
      kind: 'flood_wait',
      seconds: 12,
      code: 'FLOOD_WAIT_12',
    });
  });
});

describe('303 migrations: followed as GramJS does, or failed under their own name', () => {
  it.each(['FILE_MIGRATE_4', 'PHONE_MIGRATE_4', 'NETWORK_MIGRATE_4', 'STATS_MIGRATE_4'])(
    '%s fails with that code',
    async (name) => {
      expect(await sendAnswered({ code: 303, name })).toMatchObject({ kind: 'permanent', code: name });
    },
  );

  it('FILE_MIGRATE_X on an upload part is not retried on the same DC', async () => {
    const { gateway } = answeringGateway(answerFor(Api.upload.SaveFilePart, { code: 303, name: 'FILE_MIGRATE_2' }));
    const c = classify(await gateway.uploadMedia(photo).then(() => null, (e: unknown) => e));
    expect(c).toMatchObject({ kind: 'permanent', code: 'FILE_MIGRATE_2' });
  });

  it('USER_MIGRATE_X: GramJS switches the client to that DC, and the send is retried there', async () => {
    const { client, sender } = answeringClient(answerFor(Api.messages.SendMessage, { code: 303, name: 'USER_MIGRATE_4' }, 1));
    // _switchDC would open a connection to Telegram's DC 4: recorded instead (tests reach loopback only).
    const switched: number[] = [];
    (client as unknown as { _switchDC(dc: number): Promise<void> })._switchDC = async (dc) => void switched.push(dc);
    const gateway = new GramJsGateway(client, { connect: false });
    const c = classify(await gateway.send(message).then(() => null, (e: unknown) => e));
    expect(switched).toEqual([4]);
    expect(c).toMatchObject({ kind: 'transient', code: 'USER_MIGRATE_4', unknown: false });
    expect(sender.requests.filter((r) => r instanceof Api.messages.SendMessage)).toHaveLength(1);
  });
});

describe('outcomes Telegram calls unknown end unconfirmed, never failed', () => {
  const config = { retryBaseSeconds: 5, retryJitter: 0 };
  it.each(
    [
      [{ code: 500, name: 'RPC_CALL_FAIL' }],
      [{ code: 500, name: 'RPC_MCGET_FAIL' }],
      [{ code: -503, name: 'Timeout' }],
    ] as const,
  )('%o', async (answer) => {
    const c = await sendAnswered(answer);
    expect(c).toMatchObject({ kind: 'transient', code: answer.name, unknown: true });
    expect(outcomeOf(c, { attempts: 0, reachable: true, duplicates: 0, config }).outcome).toBe('retry');
    expect(outcomeOf(c, { attempts: 3, reachable: true, duplicates: 0, config }).outcome).toBe('unconfirmed');
  }, 10_000);

  it('MSG_WAIT_X reaches the worker by name and is retried', async () => {
    for (const name of ['MSG_WAIT_FAILED', 'MSG_WAIT_TIMEOUT']) {
      expect(await sendAnswered({ code: 400, name })).toMatchObject({ kind: 'transient', code: name });
    }
  });

  it('an RPC error CONNECTION_NOT_INITED (refused before it ran) is retried, not failed', async () => {
    expect(await sendAnswered({ code: 400, name: 'CONNECTION_NOT_INITED' })).toMatchObject({
      kind: 'transient',
      code: 'CONNECTION_NOT_INITED',
      unknown: false,
    });
  });

  it('a 500 Telegram answered deliberately still fails after its retries', async () => {
    const c = await sendAnswered({ code: 500, name: 'INTERNAL' });
    expect(outcomeOf(c, { attempts: 3, reachable: true, duplicates: 0, config }).outcome).toBe('failed');
  });
});
