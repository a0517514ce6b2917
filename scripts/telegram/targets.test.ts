// Users and basic groups as targets, bots, and account states, through MTProto with real GramJS clients.
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import {
  createChannel,
  historyOf,
  inputChannel,
  inputPeerUser,
  resolveChannel,
  resolveUser,
  rpcError,
  sendTo,
  signedIn,
  signedInBot,
  testPhone,
  useStandIn,
} from './testing.ts';

const { standIn, track } = useStandIn();
const signIn = async () => track(await signedIn(standIn(), testPhone(2)));
const idOf = async (c: Awaited<ReturnType<typeof signIn>>) => BigInt((await c.getMe()).id.toString());

/** `client` imports `other`'s phone number and gets the user with its own access hash. */
async function contact(client: Awaited<ReturnType<typeof signIn>>, other: Awaited<ReturnType<typeof signIn>>) {
  const phone = (await other.getMe()).phone!;
  const res = await client.invoke(
    new Api.contacts.ImportContacts({
      contacts: [new Api.InputPhoneContact({ clientId: returnBigInt(7), phone, firstName: 'A', lastName: '' })],
    }),
  );
  expect(res.imported.map((i) => i.clientId.toString())).toEqual(['7']);
  return res.users[0] as Api.User;
}

describe('users as targets (core.telegram.org/method/contacts.importContacts, /api/peers)', () => {
  it("a user found by phone is sent to with this account's hash; another account's hash is PEER_ID_INVALID", async () => {
    const [alice, bob, carol] = [await signIn(), await signIn(), await signIn()];
    const bobForAlice = await contact(alice, bob);
    const bobForCarol = await contact(carol, bob);
    expect(bobForCarol.accessHash?.toString()).not.toBe(bobForAlice.accessHash?.toString());
    const id = await sendTo(alice, inputPeerUser(bobForAlice), 'hello bob');
    expect(await rpcError(sendTo(carol, inputPeerUser(bobForAlice), "with alice's hash"))).toBe('400 PEER_ID_INVALID');
    const aliceForBob = await resolveOrImport(bob, alice);
    // Private chats live in each account's box: the receiver sees the message under an id of its own.
    expect((await historyOf(alice, inputPeerUser(bobForAlice))).map((m) => [m.id, m.message, m.out])).toEqual([
      [id, 'hello bob', true],
    ]);
    expect((await historyOf(bob, inputPeerUser(aliceForBob))).map((m) => [m.message, !!m.out])).toEqual([['hello bob', false]]);
  });

  it('a user who blocked the sender is USER_IS_BLOCKED; one the sender blocked YOU_BLOCKED_USER (core.telegram.org/api/block)', async () => {
    const [alice, bob] = [await signIn(), await signIn()];
    const bobForAlice = await contact(alice, bob);
    const aliceForBob = await resolveOrImport(bob, alice);
    await bob.invoke(new Api.contacts.Block({ id: inputPeerUser(aliceForBob) }));
    expect(await rpcError(sendTo(alice, inputPeerUser(bobForAlice), 'hi'))).toBe('400 USER_IS_BLOCKED');
    expect(await rpcError(sendTo(bob, inputPeerUser(aliceForBob), 'hi'))).toBe('400 YOU_BLOCKED_USER');
    await bob.invoke(new Api.contacts.Unblock({ id: inputPeerUser(aliceForBob) }));
    await sendTo(alice, inputPeerUser(bobForAlice), 'hi again');
  });
});

describe('privacy (core.telegram.org/api/privacy)', () => {
  it('a user who lets only contacts invite them is left out of chats and channels by others, answered as missing_invitees', async () => {
    const [owner, friend, shy] = [await signIn(), await signIn(), await signIn()];
    const only = [new Api.InputPrivacyValueAllowContacts()];
    await shy.invoke(new Api.account.SetPrivacy({ key: new Api.InputPrivacyKeyChatInvite(), rules: only }));
    const shyForOwner = await contact(owner, shy);
    const friendForOwner = await contact(owner, friend);
    const res = await owner.invoke(new Api.messages.CreateChat({ users: [shyForOwner, friendForOwner], title: 'Both' }));
    expect(res.missingInvitees.map((m) => m.userId.toString())).toEqual([shyForOwner.id.toString()]);
    expect(((res.updates as Api.Updates).chats[0] as Api.Chat).participantsCount).toBe(2);
    const ch = await createChannel(owner);
    const invited = await owner.invoke(new Api.channels.InviteToChannel({ channel: inputChannel(ch), users: [shyForOwner] }));
    expect(invited.missingInvitees).toHaveLength(1);
    // Once the shy user has the owner as a contact, the owner may invite them.
    await contact(shy, owner);
    const again = await owner.invoke(new Api.channels.InviteToChannel({ channel: inputChannel(ch), users: [shyForOwner] }));
    expect(again.missingInvitees).toHaveLength(0);
  });

  it('a user who asks Premium of non-contacts refuses their messages with 403 PRIVACY_PREMIUM_REQUIRED', async () => {
    const [stranger, picky] = [await signIn(), await signIn()];
    await picky.invoke(
      new Api.account.SetGlobalPrivacySettings({
        settings: new Api.GlobalPrivacySettings({ newNoncontactPeersRequirePremium: true }),
      }),
    );
    const pickyForStranger = await contact(stranger, picky);
    expect(await rpcError(sendTo(stranger, inputPeerUser(pickyForStranger), 'hi'))).toBe('403 PRIVACY_PREMIUM_REQUIRED');
    await contact(picky, stranger);
    await sendTo(stranger, inputPeerUser(pickyForStranger), 'hi, contact');
  });
});

/** The other account as `client` sees it, through contacts.importContacts. */
const resolveOrImport = contact;

describe('basic groups (core.telegram.org/method/messages.createChat; InputPeerChat has no access hash)', () => {
  it('members post by chat id alone; a removed member gets 403 CHAT_WRITE_FORBIDDEN; a stranger PEER_ID_INVALID', async () => {
    const [owner, member, stranger] = [await signIn(), await signIn(), await signIn()];
    const memberForOwner = await contact(owner, member);
    const res = await owner.invoke(new Api.messages.CreateChat({ users: [memberForOwner], title: 'Team' }));
    const chat = (res.updates as Api.Updates).chats[0] as Api.Chat;
    const peer = new Api.InputPeerChat({ chatId: chat.id });
    await sendTo(owner, peer, 'from owner');
    await sendTo(member, peer, 'from member');
    expect((await historyOf(member, peer)).map((m) => m.message)).toEqual(['from member', 'from owner']);
    expect(await rpcError(sendTo(stranger, peer, 'x'))).toBe('400 PEER_ID_INVALID');
    await owner.invoke(new Api.messages.DeleteChatUser({ chatId: chat.id, userId: memberForOwner }));
    expect(await rpcError(sendTo(member, peer, 'after removal'))).toBe('403 CHAT_WRITE_FORBIDDEN');
    expect(await rpcError(owner.invoke(new Api.messages.CreateChat({ users: [], title: 'Alone' })))).toBe('400 USERS_TOO_FEW');
  });
});

describe('bots (core.telegram.org/api/bots, /method/auth.importBotAuthorization)', () => {
  it('signs in with its token; cannot start a conversation; may use the zero access hash; users-only methods are BOT_METHOD_INVALID', async () => {
    const { token } = standIn().model.accounts.createBot('news_bot');
    const bot = track(await signedInBot(standIn(), token));
    expect((await bot.getMe()).bot).toBe(true);
    const user = await signIn();
    const userId = await idOf(user);
    const zero = returnBigInt(0);
    const userByZeroHash = new Api.InputPeerUser({ userId: returnBigInt(userId.toString()), accessHash: zero });
    // "Bots can't initiate conversations with users" (core.telegram.org/bots/faq).
    expect(await rpcError(sendTo(bot, userByZeroHash, 'hello'))).toBe('400 PEER_ID_INVALID');
    await sendTo(user, inputPeerUser(await resolveUser(user, 'news_bot')), '/start');
    await sendTo(bot, userByZeroHash, 'hello');
    const ch = await createChannel(user, { username: 'bot_target' });
    const botForUser = await resolveUser(user, 'news_bot');
    await user.invoke(
      new Api.channels.EditAdmin({
        channel: inputChannel(ch),
        userId: botForUser,
        adminRights: new Api.ChatAdminRights({ postMessages: true }),
        rank: '',
      }),
    );
    // Bots may resolve usernames (core.telegram.org/method/contacts.resolveUsername), with hashes of their own.
    const seenByBot = await resolveChannel(bot, 'bot_target');
    expect(seenByBot.accessHash?.toString()).not.toBe(ch.accessHash?.toString());
    const byZero = new Api.InputChannel({ channelId: ch.id, accessHash: zero });
    expect((await bot.invoke(new Api.channels.GetChannels({ id: [byZero] }))).chats).toHaveLength(1);
    expect(await rpcError(user.invoke(new Api.channels.GetChannels({ id: [byZero] })))).toBe('400 CHANNEL_INVALID');
    expect(await rpcError(bot.invoke(new Api.channels.CreateChannel({ title: 'x', about: '' })))).toBe('400 BOT_METHOD_INVALID');
    expect(await rpcError(signedInBot(standIn(), '1:not-a-token'))).toBe('400 ACCESS_TOKEN_INVALID');
  });
});

describe('account states (core.telegram.org/api/errors#401-unauthorized, /api/auth#frozen-accounts)', () => {
  it('after auth.logOut AUTH_KEY_UNREGISTERED; sessions terminated elsewhere SESSION_REVOKED; a ban USER_DEACTIVATED_BAN', async () => {
    const out = await signIn();
    await out.invoke(new Api.auth.LogOut());
    expect(await rpcError(out.invoke(new Api.updates.GetState()))).toBe('401 AUTH_KEY_UNREGISTERED');
    const revoked = await signIn();
    standIn().model.accounts.revokeSessions(await idOf(revoked));
    expect(await rpcError(revoked.invoke(new Api.updates.GetState()))).toBe('401 SESSION_REVOKED');
    const banned = await signIn();
    standIn().model.accounts.byUserId(await idOf(banned))!.banned = true;
    expect(await rpcError(banned.invoke(new Api.updates.GetState()))).toBe('401 USER_DEACTIVATED_BAN');
  });

  it('a frozen account starts and reads its state, other calls are 420 FROZEN_METHOD_INVALID', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    standIn().model.accounts.byUserId(await idOf(client))!.frozen = true;
    await client.invoke(new Api.updates.GetState());
    expect(await rpcError(sendTo(client, new Api.InputPeerChannel({ channelId: ch.id, accessHash: ch.accessHash! }), 'x')))
      .toBe('420 FROZEN_METHOD_INVALID');
  });

  it('RPC_CALL_FAIL and -503 Timeout come from the fault hook as Telegram sends them', async () => {
    const client = await signIn();
    const ch = await createChannel(client, { username: 'faulty_target' });
    const peer = new Api.InputPeerChannel({ channelId: ch.id, accessHash: ch.accessHash! });
    const sender = client._sender!; // invoke would retry 500s itself
    const send = () => sender.send(new Api.messages.SendMessage({ peer, message: 'x', randomId: returnBigInt(5) }))!;
    standIn().model.faults.add({
      method: 'messages.sendMessage',
      target: 'faulty_target',
      error: { code: 500, type: 'RPC_CALL_FAIL' },
      times: 1,
    });
    expect(await rpcError(send())).toBe('500 RPC_CALL_FAIL');
    standIn().model.faults.add({
      method: 'messages.sendMessage',
      target: 'faulty_target',
      error: { code: -503, type: 'Timeout' },
      times: 1,
    });
    expect(await rpcError(send())).toBe('-503 Timeout');
  });
});
