// Edit, delete, pin and views of sent messages, through MTProto with real GramJS clients.
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { TelegramModel } from './model/model.ts';
import {
  createChannel,
  history,
  historyOf,
  inputChannel,
  inputPeer,
  inputPeerUser,
  post,
  resolveChannel,
  resolveUser,
  rpcError,
  sendTo,
  signedIn,
  testPhone,
  useStandIn,
} from './testing.ts';

// The model's clock is the test's: the 48 h edit limit is reached by moving it.
let now = Date.now();
const { standIn, track } = useStandIn({ model: new TelegramModel({ now: () => now }) });
const signIn = async () => track(await signedIn(standIn(), testPhone(2)));
const sentId = (u: unknown) =>
  ((u as Api.Updates).updates.find((x) => x instanceof Api.UpdateMessageID) as Api.UpdateMessageID).id;
const edit = (client: Awaited<ReturnType<typeof signIn>>, peer: Api.TypeInputPeer, id: number, message: string) =>
  client.invoke(new Api.messages.EditMessage({ peer, id, message }));
const HOURS_49 = 49 * 3600 * 1000;
const accountOf = async (client: Awaited<ReturnType<typeof signIn>>) =>
  standIn().model.accounts.byUserId(BigInt((await client.getMe()).id.toString()))!;

describe('messages.editMessage (core.telegram.org/method/messages.editMessage)', () => {
  it('edits a channel post, seen in getHistory; the same text is MESSAGE_NOT_MODIFIED; a deleted post MESSAGE_ID_INVALID; no time limit in channels', async () => {
    const owner = await signIn();
    const ch = await createChannel(owner, { username: 'edited_news' });
    const id = sentId(await post(owner, ch, 'typo'));
    await edit(owner, inputPeer(ch), id, 'fixed');
    const [read] = await history(owner, ch);
    expect([read?.message, typeof read?.editDate]).toEqual(['fixed', 'number']);
    expect(await rpcError(edit(owner, inputPeer(ch), id, 'fixed'))).toBe('400 MESSAGE_NOT_MODIFIED');
    now += HOURS_49;
    await edit(owner, inputPeer(ch), id, 'fixed again, two days later');
    await owner.invoke(new Api.channels.DeleteMessages({ channel: inputChannel(ch), id: [id] }));
    expect(await rpcError(edit(owner, inputPeer(ch), id, 'gone'))).toBe('400 MESSAGE_ID_INVALID');
    expect(await history(owner, ch)).toHaveLength(0);
  });

  it('in private chats and basic groups only the author edits, within 48 h (help.getConfig edit_time_limit): then MESSAGE_EDIT_TIME_EXPIRED', async () => {
    const [alice, bob] = [await signIn(), await signIn()];
    await bob.invoke(new Api.account.UpdateUsername({ username: 'edit_bob' }));
    await alice.invoke(new Api.account.UpdateUsername({ username: 'edit_alice' }));
    const bobPeer = inputPeerUser(await resolveUser(alice, 'edit_bob'));
    const id = await sendTo(alice, bobPeer, 'hi bob');
    await edit(alice, bobPeer, id, 'hi Bob');
    const aliceForBob = inputPeerUser(await resolveUser(bob, 'edit_alice'));
    const [seen] = await historyOf(bob, aliceForBob);
    expect(seen?.message).toBe('hi Bob');
    expect(await rpcError(edit(bob, aliceForBob, seen!.id, 'not mine'))).toBe('403 MESSAGE_AUTHOR_REQUIRED');
    now += HOURS_49;
    expect(await rpcError(edit(alice, bobPeer, id, 'too late'))).toBe('400 MESSAGE_EDIT_TIME_EXPIRED');
  });

  it("someone else's channel post needs edit_messages (core.telegram.org/constructor/chatAdminRights)", async () => {
    const owner = await signIn();
    const admin = await signIn();
    await admin.invoke(new Api.account.UpdateUsername({ username: 'poster_admin' }));
    const ch = await createChannel(owner, { username: 'rights_news' });
    const adminUser = await resolveUser(owner, 'poster_admin');
    const grant = (rights: Partial<Api.ChatAdminRights>) =>
      owner.invoke(
        new Api.channels.EditAdmin({
          channel: inputChannel(ch),
          userId: adminUser,
          adminRights: new Api.ChatAdminRights(rights),
          rank: '',
        }),
      );
    await grant({ postMessages: true });
    const mine = await resolveChannel(admin, 'rights_news');
    const id = sentId(await post(owner, ch, "the owner's post"));
    expect(await rpcError(edit(admin, inputPeer(mine), id, 'x'))).toBe('403 MESSAGE_AUTHOR_REQUIRED');
    expect(await rpcError(admin.invoke(new Api.channels.DeleteMessages({ channel: inputChannel(mine), id: [id] })))).toBe(
      '403 MESSAGE_DELETE_FORBIDDEN',
    );
    expect(await rpcError(admin.invoke(new Api.messages.UpdatePinnedMessage({ peer: inputPeer(mine), id })))).toBe(
      '400 CHAT_ADMIN_REQUIRED',
    );
    await grant({ postMessages: true, editMessages: true, deleteMessages: true });
    await edit(admin, inputPeer(mine), id, 'edited by an admin');
    await admin.invoke(new Api.messages.UpdatePinnedMessage({ peer: inputPeer(mine), id, silent: true }));
    expect((await history(owner, ch)).map((m) => [m.message, !!m.pinned])).toEqual([['edited by an admin', true]]);
    await admin.invoke(new Api.channels.DeleteMessages({ channel: inputChannel(mine), id: [id] }));
    expect(await history(owner, ch)).toHaveLength(0);
  });
});

describe('delete, pin, views (core.telegram.org/method/messages.deleteMessages, /method/messages.updatePinnedMessage, /method/messages.getMessagesViews)', () => {
  it('pins silently and unpins a channel post; getHistory shows it', async () => {
    const owner = await signIn();
    const ch = await createChannel(owner);
    const id = sentId(await post(owner, ch, 'pin me'));
    const res = await owner.invoke(new Api.messages.UpdatePinnedMessage({ peer: inputPeer(ch), id, silent: true }));
    expect((res as Api.Updates).updates.some((u) => u instanceof Api.UpdatePinnedChannelMessages && u.pinned)).toBe(true);
    expect((await history(owner, ch))[0]?.pinned).toBe(true);
    await owner.invoke(new Api.messages.UpdatePinnedMessage({ peer: inputPeer(ch), id, unpin: true }));
    expect((await history(owner, ch))[0]?.pinned).toBeFalsy();
  });

  it('reads views and forwards without counting itself (increment: false); views grow through the stand-in hook', async () => {
    const owner = await signIn();
    const reader = await signIn();
    const ch = await createChannel(owner, { username: 'viewed_news' });
    const ids = [sentId(await post(owner, ch, 'one')), sentId(await post(owner, ch, 'two'))];
    const readersView = await resolveChannel(reader, 'viewed_news');
    const views = async (client: typeof owner, peer: Api.TypeInputPeer, increment: boolean) =>
      (await client.invoke(new Api.messages.GetMessagesViews({ peer, id: ids, increment }))).views.map((
        v,
      ) => [v.views, v.forwards]);
    expect(await views(owner, inputPeer(ch), false)).toEqual([[0, 0], [0, 0]]);
    const model = standIn().model;
    const owned = model.channel(await accountOf(owner), BigInt(ch.id.toString()), BigInt(ch.accessHash!.toString()));
    model.afterSend.addViews(owned, ids[0]!, 40, 3);
    await views(reader, inputPeer(readersView), true);
    await views(reader, inputPeer(readersView), true);
    expect(await views(owner, inputPeer(ch), false)).toEqual([[41, 3], [1, 0]]);
    expect((await history(owner, ch)).map((m) => m.views)).toEqual([1, 41]);
  });

  it('reads reactions per post as updateMessageReactions (messages.getMessagesReactions); they grow through the stand-in hook', async () => {
    const owner = await signIn();
    const ch = await createChannel(owner);
    const ids = [sentId(await post(owner, ch, 'liked')), sentId(await post(owner, ch, 'not yet'))];
    const reactions = async () => {
      const res = await owner.invoke(new Api.messages.GetMessagesReactions({ peer: inputPeer(ch), id: [...ids, 999] }));
      return (res as Api.Updates).updates.map((u) => {
        const r = u as Api.UpdateMessageReactions;
        return [r.msgId, r.reactions.results.map((c) => [(c.reaction as Api.ReactionEmoji).emoticon, c.count])];
      });
    };
    expect(await reactions()).toEqual([[ids[0], []], [ids[1], []]]);
    const model = standIn().model;
    const owned = model.channel(await accountOf(owner), BigInt(ch.id.toString()), BigInt(ch.accessHash!.toString()));
    model.afterSend.addReactions(owned, ids[0]!, '👍', 7);
    model.afterSend.addReactions(owned, ids[0]!, '🔥', 2);
    model.afterSend.addReactions(owned, ids[0]!, '👍', 1);
    expect(await reactions()).toEqual([[ids[0], [['👍', 8], ['🔥', 2]]], [ids[1], []]]);
  });

  it('messages.deleteMessages with revoke deletes a private message for both sides; without, only for the caller', async () => {
    const [alice, bob] = [await signIn(), await signIn()];
    await bob.invoke(new Api.account.UpdateUsername({ username: 'del_bob' }));
    await alice.invoke(new Api.account.UpdateUsername({ username: 'del_alice' }));
    const bobPeer = inputPeerUser(await resolveUser(alice, 'del_bob'));
    const alicePeer = inputPeerUser(await resolveUser(bob, 'del_alice'));
    const kept = await sendTo(alice, bobPeer, 'kept for bob');
    const revoked = await sendTo(alice, bobPeer, 'revoked');
    await alice.invoke(new Api.messages.DeleteMessages({ id: [kept] }));
    await alice.invoke(new Api.messages.DeleteMessages({ id: [revoked], revoke: true }));
    expect(await historyOf(alice, bobPeer)).toHaveLength(0);
    expect((await historyOf(bob, alicePeer)).map((m) => m.message)).toEqual(['kept for bob']);
  });
});
