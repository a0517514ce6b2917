// The stand-in's sign-in limits through MTProto with a real GramJS client: a code past its
// lifetime is PHONE_CODE_EXPIRED, and auth.sendCode past a number's allowance is FLOOD_WAIT_X
// (core.telegram.org/method/auth.signIn, core.telegram.org/method/auth.sendCode).
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { standInClient } from './client.ts';
import { TelegramModel } from './model/model.ts';
import { rpcError, testPhone, useStandIn } from './testing.ts';

let shiftMs = 0;
const model = new TelegramModel({
  now: () => Date.now() + shiftMs,
  config: { signIn: { codeLifetimeMs: 60_000, sendCode: { limit: 2, ms: 3_600_000 } } },
});
const { standIn, track } = useStandIn({ model });

async function client() {
  const c = track(standInClient(standIn(), { dcId: 2, params: { floodSleepThreshold: 0 } }));
  await c.connect();
  return c;
}
const sendCode = (c: Awaited<ReturnType<typeof client>>, phoneNumber: string) =>
  c.invoke(
    new Api.auth.SendCode({
      phoneNumber,
      apiId: standIn().apiId,
      apiHash: standIn().apiHash,
      settings: new Api.CodeSettings({}),
    }),
  );

describe('sign-in limits', () => {
  it('a code older than its lifetime is PHONE_CODE_EXPIRED, a fresh one signs in', async () => {
    const c = await client();
    const phone = testPhone(2);
    const old = (await sendCode(c, phone)) as Api.auth.SentCode;
    shiftMs += 61_000;
    const expired = c.invoke(new Api.auth.SignIn({ phoneNumber: phone, phoneCodeHash: old.phoneCodeHash, phoneCode: '22222' }));
    expect(await rpcError(expired)).toBe('400 PHONE_CODE_EXPIRED');
    const fresh = (await sendCode(c, phone)) as Api.auth.SentCode;
    const signed = await c.invoke(
      new Api.auth.SignIn({ phoneNumber: phone, phoneCodeHash: fresh.phoneCodeHash, phoneCode: '22222' }),
    );
    expect(signed).toBeInstanceOf(Api.auth.AuthorizationSignUpRequired);
  });

  it('a third code for one number within the hour is FLOOD_WAIT_X until the first leaves the window', async () => {
    const c = await client();
    const phone = testPhone(2);
    await sendCode(c, phone);
    shiftMs += 600_000;
    await sendCode(c, phone);
    expect(await rpcError(sendCode(c, phone))).toBe('420 FloodWaitError(3000)');
    expect(await sendCode(c, testPhone(2))).toBeInstanceOf(Api.auth.SentCode); // another number is not limited
  });

  it('a PHONE_MIGRATE answer sends no code and counts nothing', async () => {
    const c = await client(); // on DC 2: GramJS follows PHONE_MIGRATE_3 to DC 3 and asks again
    const phone = testPhone(3);
    expect(await sendCode(c, phone)).toBeInstanceOf(Api.auth.SentCode);
    expect(c.session.dcId).toBe(3);
    expect(await sendCode(c, phone)).toBeInstanceOf(Api.auth.SentCode); // the second of 2 allowed
    expect(await rpcError(sendCode(c, phone))).toMatch(/^420 FloodWaitError/);
  });
});
