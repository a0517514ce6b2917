// Sessions made by the stand-in (sessions.ts, a stand-in-only shortcut): a GramJS client given
// one works on the key it holds, never exchanges a new one, and is the account the number names.
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { createTelegramClient, GramJsGateway } from '../../worker/src/gateway/gramjs-gateway.ts';
import { standInClient } from './client.ts';
import { seedSession, seedSessions } from './sessions.ts';
import { createChannel, history, inputChannel, resolveUser, signedIn, testPhone, useStandIn } from './testing.ts';

const { standIn, track } = useStandIn();

describe('seeded sessions (stand-in only)', () => {
  it('a client with a seeded session is signed in on that key: users.getUsers(self), a channel and a post', async () => {
    const phone = '9996629001';
    const seeded = await seedSession(standIn(), phone);
    const client = track(standInClient(standIn(), { session: seeded.session }));
    await client.connect();
    const me = (await client.invoke(new Api.users.GetUsers({ id: [new Api.InputUserSelf()] })))[0] as Api.User;
    expect([me.id.toString(), me.phone, me.self]).toEqual([seeded.account.id.toString(), phone, true]);
    const ch = await createChannel(client, { username: 'seeded_news' });
    await client.sendMessage('seeded_news', { message: 'from a seeded session' });
    expect((await history(client, ch)).map((m) => m.message)).toEqual(['from a seeded session']);
    // No key exchange happened: the client still holds the key it was given, on the same DC.
    expect(client.session.save()).toBe(seeded.session);
  });

  it('a number already signed up through MTProto gets a second session of the same account', async () => {
    const phone = testPhone(3);
    const login = track(await signedIn(standIn(), phone));
    const own = (await login.getMe()) as Api.User;
    const seeded = await seedSession(standIn(), phone);
    expect(seeded.account.id.toString()).toBe(own.id.toString());
    expect(seeded.session).not.toBe(login.session.save());
  });

  it('the worker gateway starts on seeded sessions; two accounts post to one channel, each with its own access hash', async () => {
    const s = standIn();
    const [creator, poster] = await seedSessions(s, 2, { dcId: 1, first: 9101 });
    const admin = track(standInClient(s, { session: creator!.session }));
    await admin.connect();
    const ch = await createChannel(admin, { username: 'seeded_target' });
    const other = track(standInClient(s, { session: poster!.session }));
    await other.connect();
    await other.invoke(new Api.account.UpdateUsername({ username: 'seeded_poster' }));
    await admin.invoke(
      new Api.channels.EditAdmin({
        channel: inputChannel(ch),
        userId: await resolveUser(admin, 'seeded_poster'),
        adminRights: new Api.ChatAdminRights({ postMessages: true }),
        rank: '',
      }),
    );
    const hashes: (string | null)[] = [];
    for (const [i, seeded] of [creator!, poster!].entries()) {
      const gateway = new GramJsGateway(
        createTelegramClient({ session: seeded.session, apiId: s.apiId, apiHash: s.apiHash, server: s }),
      );
      track(gateway.client);
      await gateway.start();
      const peer = await gateway.resolvePeer('@seeded_target');
      hashes.push(peer.accessHash);
      await gateway.send({ peer, text: `account ${i}`, parseMode: 'plain', silent: false, linkPreview: true, randomId: '9' });
    }
    expect(hashes[0]).not.toBe(hashes[1]);
    expect((await history(admin, ch)).map((m) => m.message).sort()).toEqual(['account 0', 'account 1']);
  });
});
