// Access hashes and username resolution, through MTProto with real GramJS clients.
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import {
  createChannel,
  history,
  inputChannel,
  post,
  resolveChannel,
  resolveUser,
  rpcError,
  signedIn,
  testPhone,
  useStandIn,
} from './testing.ts';

const { standIn, track } = useStandIn();
const signIn = async () => track(await signedIn(standIn(), testPhone(2)));

describe('access hashes are per account (core.telegram.org/api/peers)', () => {
  it("a second admin resolving the same channel gets its own hash; posting with the first account's is CHANNEL_INVALID", async () => {
    const first = await signIn();
    const second = await signIn();
    await second.invoke(new Api.account.UpdateUsername({ username: 'second_admin' }));
    const created = await createChannel(first, { username: 'shared_news' });
    const secondUser = await resolveUser(first, 'second_admin');
    const rights = new Api.ChatAdminRights({ postMessages: true });
    await first.invoke(
      new Api.channels.EditAdmin({ channel: inputChannel(created), userId: secondUser, adminRights: rights, rank: '' }),
    );
    const seenByFirst = await resolveChannel(first, 'shared_news');
    const seenBySecond = await resolveChannel(second, 'shared_news');
    expect(seenBySecond.id.toString()).toBe(created.id.toString());
    expect(seenByFirst.accessHash?.toString()).toBe(created.accessHash?.toString());
    expect(seenBySecond.accessHash?.toString()).not.toBe(seenByFirst.accessHash?.toString());
    expect(await rpcError(post(second, seenByFirst, "with the first account's hash"))).toBe('400 CHANNEL_INVALID');
    expect(await rpcError(history(second, seenByFirst))).toBe('400 CHANNEL_INVALID');
    await post(second, seenBySecond, 'with its own hash');
    expect((await history(first, seenByFirst)).map((m) => m.message)).toEqual(['with its own hash']);
  });

  it("a user's hash is per account too: another account using it is PEER_ID_INVALID", async () => {
    const first = await signIn();
    const second = await signIn();
    const target = await signIn();
    await target.invoke(new Api.account.UpdateUsername({ username: 'target_user' }));
    const seenByFirst = await resolveUser(first, 'target_user');
    const input = new Api.InputUser({ userId: seenByFirst.id, accessHash: seenByFirst.accessHash! });
    expect(await first.invoke(new Api.users.GetUsers({ id: [input] }))).toHaveLength(1);
    expect(await rpcError(second.invoke(new Api.users.GetUsers({ id: [input] })))).toBe('400 PEER_ID_INVALID');
  });
});

describe('contacts.resolveUsername (core.telegram.org/method/contacts.resolveUsername)', () => {
  it('a burst is answered with 420 FLOOD_WAIT_X for that account only (type contacts.ResolvedPeer: at most 1 call every 3 s)', async () => {
    const burst = await signIn();
    const other = await signIn();
    await createChannel(burst, { username: 'burst_target' });
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) {
      answers.push(await rpcError(burst.invoke(new Api.contacts.ResolveUsername({ username: 'burst_target' }))));
    }
    // The default allowance is 5 within 15 s: the 6th call onwards must wait.
    expect(answers.slice(0, 5)).toEqual(Array(5).fill('no error'));
    expect(answers.slice(5).every((a) => /^420 FloodWaitError\(\d+\)$/.test(a))).toBe(true);
    expect((await resolveChannel(other, 'burst_target')).title).toBe('burst_target');
  });

  it('an unknown username is USERNAME_NOT_OCCUPIED, a malformed one USERNAME_INVALID, a taken one USERNAME_OCCUPIED', async () => {
    const client = await signIn();
    expect(await rpcError(resolveChannel(client, 'nobody_has_this'))).toBe('400 USERNAME_NOT_OCCUPIED');
    expect(await rpcError(resolveChannel(client, '1x'))).toBe('400 USERNAME_INVALID');
    await createChannel(client, { username: 'taken_name' });
    const second = await signIn();
    expect(await rpcError(second.invoke(new Api.account.UpdateUsername({ username: 'taken_name' })))).toBe(
      '400 USERNAME_OCCUPIED',
    );
  });
});
