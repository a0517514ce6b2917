// Sign-in as on Telegram's test servers, through MTProto with a real GramJS client.
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { standInClient } from './client.ts';
import { rpcError, signedIn, testPhone, useStandIn } from './testing.ts';

const { standIn, track } = useStandIn();

describe('sign-in (core.telegram.org/api/auth)', () => {
  it('signs up a new test number 99966XYYYY with code XXXXX, then signs in to the same account', async () => {
    const phone = testPhone(2);
    const first = track(await signedIn(standIn(), phone));
    const me = await first.getMe();
    expect(me.phone).toBe(phone);
    expect(me.self).toBe(true);
    const again = track(await signedIn(standIn(), phone));
    expect((await again.getMe()).id.toString()).toBe(me.id.toString());
  });

  it('a wrong code is PHONE_CODE_INVALID; a number outside 99966XYYYY is PHONE_NUMBER_INVALID', async () => {
    const client = track(standInClient(standIn(), { dcId: 2 }));
    await client.connect();
    const phone = testPhone(2);
    const sent = await client.invoke(
      new Api.auth.SendCode({
        phoneNumber: phone,
        apiId: standIn().apiId,
        apiHash: standIn().apiHash,
        settings: new Api.CodeSettings({}),
      }),
    );
    const hash = (sent as Api.auth.SentCode).phoneCodeHash;
    expect(await rpcError(client.invoke(new Api.auth.SignIn({ phoneNumber: phone, phoneCodeHash: hash, phoneCode: '11111' }))))
      .toBe('400 PHONE_CODE_INVALID');
    const other = client.invoke(
      new Api.auth.SendCode({
        phoneNumber: '15551234567',
        apiId: standIn().apiId,
        apiHash: standIn().apiHash,
        settings: new Api.CodeSettings({}),
      }),
    );
    expect(await rpcError(other)).toBe('400 PHONE_NUMBER_INVALID');
  });

  it("another app's api_id/api_hash is API_ID_INVALID (method auth.sendCode)", async () => {
    const client = track(standInClient(standIn(), { dcId: 2 }));
    await client.connect();
    const call = client.invoke(
      new Api.auth.SendCode({ phoneNumber: testPhone(2), apiId: 1, apiHash: 'x', settings: new Api.CodeSettings({}) }),
    );
    expect(await rpcError(call)).toBe('400 API_ID_INVALID');
  });

  it('a DC 3 number asked on DC 1 is 303 PHONE_MIGRATE_3, and GramJS signs in on DC 3 (core.telegram.org/api/datacenter)', async () => {
    const phone = testPhone(3);
    const client = track(standInClient(standIn(), { dcId: 1, params: { floodSleepThreshold: 0 } }));
    await client.start({
      phoneNumber: phone,
      phoneCode: async () => '33333',
      firstAndLastNames: async () => ['Three', ''],
      onError: async (e) => {
        throw e;
      },
    });
    expect(client.session.dcId).toBe(3);
    expect((await client.getMe()).phone).toBe(phone);
  });

  it('an auth key that never signed in is 401 AUTH_KEY_UNREGISTERED (core.telegram.org/api/errors)', async () => {
    const client = track(standInClient(standIn(), { dcId: 1 }));
    await client.connect();
    expect(await rpcError(client.invoke(new Api.updates.GetState()))).toBe('401 AUTH_KEY_UNREGISTERED');
    expect(await client.checkAuthorization()).toBe(false);
  });

  it('the saved session (its auth key, bound to the account) is signed in without a code', async () => {
    const phone = testPhone(1);
    const first = track(await signedIn(standIn(), phone));
    const saved = first.session.save() as unknown as string;
    await first.destroy();
    const second = track(standInClient(standIn(), { session: saved }));
    await second.connect();
    expect((await second.getMe()).phone).toBe(phone);
  });
  it('with 2FA the code answers 401 SESSION_PASSWORD_NEEDED; GramJS proves the password with SRP (core.telegram.org/api/srp)', async () => {
    const phone = testPhone(2);
    const owner = track(await signedIn(standIn(), phone));
    await owner.updateTwoFaSettings({ newPassword: 'correct horse', hint: 'horse' });
    const wrong = track(standInClient(standIn(), { dcId: 2 }));
    const refused = wrong.start({
      phoneNumber: phone,
      phoneCode: async () => '22222',
      password: async () => 'wrong horse',
      onError: async (err) => {
        throw err;
      },
    });
    expect(await rpcError(refused)).toBe('400 PASSWORD_HASH_INVALID');
    const right = track(standInClient(standIn(), { dcId: 2 }));
    await right.start({
      phoneNumber: phone,
      phoneCode: async () => '22222',
      password: async (hint) => (hint === 'horse' ? 'correct horse' : ''),
      onError: async (err) => {
        throw err;
      },
    });
    expect((await right.getMe()).phone).toBe(phone);
  });
  it('a call for another DC goes through auth.exportAuthorization / importAuthorization there (core.telegram.org/api/datacenter)', async () => {
    const phone = testPhone(2);
    const client = track(await signedIn(standIn(), phone));
    const onDc3 = await client.invoke(new Api.users.GetUsers({ id: [new Api.InputUserSelf()] }), 3);
    expect((onDc3[0] as Api.User).phone).toBe(phone);
    const elsewhere = client.invoke(new Api.auth.ImportAuthorization({ id: (onDc3[0] as Api.User).id, bytes: Buffer.alloc(32) }));
    expect(await rpcError(elsewhere)).toBe('400 AUTH_BYTES_INVALID');
  });
});
