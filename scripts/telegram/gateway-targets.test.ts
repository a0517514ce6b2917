// The worker's real GramJS gateway (configured from the environment, TELEGRAM_SERVER) against the
// stand-in: users and basic groups as targets, and numeric ids, which need an access hash of the
// account's own unless the account is a bot (core.telegram.org/api/peers, "Access hash").
import { describe, expect, it } from 'vitest';
import { Api, type TelegramClient } from 'telegram';
import { classify } from '../../worker/src/errors.ts';
import type { GramJsGateway } from '../../worker/src/gateway/gramjs-gateway.ts';
import type { ResolvedPeer } from '../../worker/src/gateway/types.ts';
import {
  createChannel,
  history,
  historyOf,
  inputChannel,
  inputPeerUser,
  resolveUser,
  signedIn,
  signedInBot,
  testPhone,
  useStandIn,
  workerGateway,
} from './testing.ts';

const { standIn, track } = useStandIn();

const gatewayFor = async (login: TelegramClient) => {
  const gateway = await workerGateway(standIn(), login);
  track(gateway.client);
  return gateway;
};

const send = (gateway: GramJsGateway, peer: ResolvedPeer, text: string, randomId = '11') =>
  gateway.send({ peer, text, parseMode: 'plain', silent: false, linkPreview: true, randomId });
const failure = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => classify(e));

describe('the worker gateway: users, basic groups and numeric ids', () => {
  it('posts to a user by @username and to a basic group by its id, each read back by its recipient', async () => {
    const reader = track(await signedIn(standIn(), testPhone(2)));
    await reader.invoke(new Api.account.UpdateUsername({ username: 'campaign_reader' }));
    const login = await signedIn(standIn(), testPhone(2));
    await login.invoke(new Api.account.UpdateUsername({ username: 'campaign_sender' }));
    const res = await login.invoke(
      new Api.messages.CreateChat({ users: [await resolveUser(login, 'campaign_reader')], title: 'Readers' }),
    );
    const chat = (res.updates as Api.Updates).chats[0] as Api.Chat;
    const gateway = await gatewayFor(login);
    await send(gateway, await gateway.resolvePeer('@campaign_reader'), 'to a user');
    const group = await gateway.resolvePeer(`-${chat.id}`);
    expect(group.accessHash).toBeNull();
    await send(gateway, group, 'to a basic group');
    const sender = inputPeerUser(await resolveUser(reader, 'campaign_sender'));
    expect((await historyOf(reader, sender)).map((m) => m.message)).toEqual(['to a user']);
    expect((await historyOf(reader, new Api.InputPeerChat({ chatId: chat.id }))).map((m) => m.message)).toEqual([
      'to a basic group',
    ]);
    // Where Telegram refuses, a permanent failure with its code: removed from the group, blocked by the user.
    await gateway.client.invoke(new Api.messages.DeleteChatUser({ chatId: chat.id, userId: new Api.InputUserSelf() }));
    await reader.invoke(new Api.contacts.Block({ id: sender }));
    expect(await failure(send(gateway, group, 'after leaving', '12'))).toMatchObject({
      kind: 'permanent',
      code: 'CHAT_WRITE_FORBIDDEN',
    });
    const user = await gateway.resolvePeer('@campaign_reader');
    expect(await failure(send(gateway, user, 'after block', '13'))).toMatchObject({ kind: 'permanent', code: 'USER_IS_BLOCKED' });
  });

  it('a user account refuses a numeric channel or user id it has no access hash for, with a permanent code and no call', async () => {
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const ch = await createChannel(owner, { username: 'numeric_target' });
    const other = track(await signedIn(standIn(), testPhone(2)));
    const otherId = (await other.getMe()).id.toString();
    const login = await signedIn(standIn(), testPhone(2));
    const gateway = await gatewayFor(login);
    let getChannelsCalls = 0;
    standIn().model.faults.add({ method: 'channels.getChannels', onMatch: () => getChannelsCalls++ });
    expect(await failure(gateway.resolvePeer(`-100${ch.id}`))).toMatchObject({ kind: 'permanent', code: 'CHANNEL_INVALID' });
    expect(await failure(gateway.resolvePeer(otherId))).toMatchObject({ kind: 'permanent', code: 'PEER_ID_INVALID' });
    // Telegram refuses a user's zero hash (core.telegram.org/api/peers): the gateway does not ask.
    expect(getChannelsCalls).toBe(0);
    // Once this client received the channel (here by its username), its numeric id resolves from that.
    const byName = await gateway.resolvePeer('@numeric_target');
    expect(await gateway.resolvePeer(`-100${ch.id}`)).toEqual(byName);
    expect(getChannelsCalls).toBe(0);
    standIn().model.faults.clear();
  });

  it('a bot resolves a numeric channel id with the zero access hash and posts to it', async () => {
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const ch = await createChannel(owner, { username: 'bot_numeric' });
    const { token } = standIn().model.accounts.createBot('numeric_bot');
    await owner.invoke(
      new Api.channels.EditAdmin({
        channel: inputChannel(ch),
        userId: await resolveUser(owner, 'numeric_bot'),
        adminRights: new Api.ChatAdminRights({ postMessages: true }),
        rank: '',
      }),
    );
    const gateway = await gatewayFor(await signedInBot(standIn(), token));
    const peer = await gateway.resolvePeer(`-100${ch.id}`);
    expect(peer.accessHash).not.toBe('0');
    await send(gateway, peer, 'from a bot');
    expect((await history(owner, ch)).map((m) => m.message)).toEqual(['from a bot']);
  });
});
