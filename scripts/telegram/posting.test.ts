// Posting to channels through MTProto with real GramJS clients: history, random_id, limits.
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { TelegramModel } from './model/model.ts';
import { createChannel, history, inputChannel, post, resolveUser, rpcError, signedIn, testPhone, useStandIn } from './testing.ts';

// Limits small enough to reach in a test; no other test here posts more than 5 times per account.
const config = { chatSend: { limit: 5, ms: 60_000 }, accountSend: { limit: 8, ms: 60_000 } };
const { standIn, track } = useStandIn({ model: new TelegramModel({ config }) });
const signIn = async (dc = 2) => track(await signedIn(standIn(), testPhone(dc)));
const sentId = (u: unknown) =>
  ((u as Api.Updates).updates.find((x) => x instanceof Api.UpdateMessageID) as Api.UpdateMessageID).id;

describe('posting (core.telegram.org/method/messages.sendMessage)', () => {
  it('creates a channel, gives it a username, posts to it and reads the post back with getHistory', async () => {
    const client = await signIn();
    await createChannel(client, { username: 'daily_news' });
    const sent = await client.sendMessage('daily_news', { message: 'first post' });
    const read = await client.getMessages('daily_news', { limit: 10 });
    expect([...read].map((m) => [m.id, m.message])).toEqual([[sent.id, 'first post']]);
  });

  it('a repeated random_id answers the original message and posts nothing new', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    const first = await post(client, ch, 'once', 42n);
    const repeat = await post(client, ch, 'once', 42n);
    expect(sentId(repeat)).toBe(sentId(first));
    expect((await history(client, ch)).map((m) => m.message)).toEqual(['once']);
  });

  it('a repeat while the first call is in flight is 500 RANDOM_ID_DUPLICATE; afterwards it answers the original', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived = () => {};
    const firstArrived = new Promise<void>((resolve) => (arrived = resolve));
    standIn().model.faults.add({ method: 'messages.sendMessage', until: held, onMatch: arrived, times: 1 });
    const req = () =>
      new Api.messages.SendMessage({
        peer: new Api.InputPeerChannel({ channelId: ch.id, accessHash: ch.accessHash! }),
        message: 'x',
        randomId: ch.id.add(7),
      });
    // The sender, not client.invoke: GramJS's invoke retries 500s itself, hiding the answer.
    const sender = client._sender!;
    const first = sender.send(req()) ?? Promise.reject(new Error('not sent'));
    await firstArrived;
    expect(await rpcError(sender.send(req()) ?? Promise.resolve())).toBe('500 RANDOM_ID_DUPLICATE');
    release();
    const repeat = await client.invoke(req());
    expect(sentId(repeat)).toBe(sentId(await first));
    expect(await history(client, ch)).toHaveLength(1);
  });

  it('more posts to one chat than its limit are 420 FLOOD_WAIT_X (bots FAQ: 20 messages per minute per group)', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    for (let i = 0; i < 5; i++) await post(client, ch, `post ${i}`);
    expect(await rpcError(post(client, ch, 'one too many'))).toMatch(/^420 FloodWaitError\(\d+\)$/);
    expect(await history(client, ch)).toHaveLength(5);
  });

  it('more posts from one account than its limit are 420 FLOOD_WAIT_X, across chats (bots FAQ: about 30 messages per second)', async () => {
    const client = await signIn();
    const chats = [await createChannel(client), await createChannel(client), await createChannel(client)];
    for (let i = 0; i < 8; i++) await post(client, chats[i % 2]!, `post ${i}`);
    expect(await rpcError(post(client, chats[2]!, 'one too many'))).toMatch(/^420 FloodWaitError\(\d+\)$/);
    expect(await history(client, chats[2]!)).toHaveLength(0);
  });

  it('a member who is not an admin of a broadcast channel gets 403 CHAT_WRITE_FORBIDDEN, until made admin with post_messages', async () => {
    const owner = await signIn();
    const member = await signIn();
    await member.invoke(new Api.account.UpdateUsername({ username: `member_${Date.now() % 100000}` }));
    const me = await member.getMe();
    const ch = await createChannel(owner, { username: 'owners_channel' });
    const memberAsOwnerSees = await resolveUser(owner, me.username!);
    await owner.invoke(new Api.channels.InviteToChannel({ channel: inputChannel(ch), users: [memberAsOwnerSees] }));
    const mine = (await member.invoke(new Api.contacts.ResolveUsername({ username: 'owners_channel' })))
      .chats[0] as Api.Channel;
    expect(await rpcError(post(member, mine, 'hi'))).toBe('403 CHAT_WRITE_FORBIDDEN');
    await owner.invoke(
      new Api.channels.EditAdmin({
        channel: inputChannel(ch),
        userId: memberAsOwnerSees,
        adminRights: new Api.ChatAdminRights({ postMessages: true }),
        rank: '',
      }),
    );
    await post(member, mine, 'now allowed');
    expect((await history(owner, ch)).map((m) => m.message)).toEqual(['now allowed']);
  });

  it('slow mode in a supergroup answers 420 SLOWMODE_WAIT_X to a member, not to admins (method channels.toggleSlowMode)', async () => {
    const owner = await signIn();
    const member = await signIn();
    const group = await createChannel(owner, { username: 'slow_group', megagroup: true });
    await owner.invoke(new Api.channels.ToggleSlowMode({ channel: inputChannel(group), seconds: 60 }));
    const mine = (await member.invoke(new Api.contacts.ResolveUsername({ username: 'slow_group' }))).chats[0] as Api.Channel;
    await member.invoke(new Api.channels.JoinChannel({ channel: inputChannel(mine) }));
    await post(member, mine, 'first');
    expect(await rpcError(post(member, mine, 'second'))).toMatch(/^420 SlowModeWaitError\((60|59)\)$/);
    await post(owner, group, 'admin one');
    await post(owner, group, 'admin two');
  });

  it('a member restricted from sending is 400 USER_BANNED_IN_CHANNEL; a kicked one, or anyone outside a private chat, 400 CHANNEL_PRIVATE', async () => {
    const owner = await signIn();
    const member = await signIn();
    const outsider = await signIn();
    const group = await createChannel(owner, { username: 'ban_group', megagroup: true });
    const mine = (await member.invoke(new Api.contacts.ResolveUsername({ username: 'ban_group' }))).chats[0] as Api.Channel;
    await member.invoke(new Api.channels.JoinChannel({ channel: inputChannel(mine) }));
    await member.invoke(new Api.account.UpdateUsername({ username: 'banned_member' }));
    const target = await resolveUser(owner, 'banned_member');
    const rights = (r: Partial<Api.ChatBannedRights>) => new Api.ChatBannedRights({ untilDate: 0, ...r });
    await owner.invoke(
      new Api.channels.EditBanned({
        channel: inputChannel(group),
        participant: target,
        bannedRights: rights({ sendMessages: true }),
      }),
    );
    expect(await rpcError(post(member, mine, 'x'))).toBe('400 USER_BANNED_IN_CHANNEL');
    await owner.invoke(
      new Api.channels.EditBanned({
        channel: inputChannel(group),
        participant: target,
        bannedRights: rights({ viewMessages: true }),
      }),
    );
    expect(await rpcError(post(member, mine, 'x'))).toBe('400 CHANNEL_PRIVATE');
    const outsiders = (await outsider.invoke(new Api.contacts.ResolveUsername({ username: 'ban_group' })))
      .chats[0] as Api.Channel;
    await owner.invoke(new Api.channels.UpdateUsername({ channel: inputChannel(group), username: '' }));
    expect(await rpcError(history(outsider, outsiders))).toBe('400 CHANNEL_PRIVATE');
  });

  it('a spam-restricted account is 400 PEER_FLOOD (core.telegram.org/api/errors)', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    standIn().model.setPeerFlood(BigInt((await client.getMe()).id.toString()), true);
    expect(await rpcError(post(client, ch, 'spam'))).toBe('400 PEER_FLOOD');
  });
});
