// The worker's real GramJS gateway, configured from the environment as in production
// (TELEGRAM_SERVER), against the stand-in over MTProto: two accounts of one owner post to the
// same channel, each with the access hash its own resolution returned.
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../../worker/src/config.ts';
import { createTelegramClient, GramJsGateway } from '../../worker/src/gateway/gramjs-gateway.ts';
import { Api } from 'telegram';
import { createChannel, history, inputChannel, resolveUser, signedIn, testPhone, useStandIn } from './testing.ts';

const { standIn, track } = useStandIn();

describe('the worker gateway with TELEGRAM_SERVER', () => {
  it('signs in with a stored session and posts with its own access hash, for each of two accounts', async () => {
    const s = standIn();
    const creator = track(await signedIn(s, testPhone(2)));
    const channel = await createChannel(creator, { username: 'shared_target' });
    const config = configFromEnv({
      DATABASE_URL: 'postgres://unused',
      TELEGRAM_MODE: 'gramjs',
      TELEGRAM_ACCOUNTS: '[{"accountId":"00000000-0000-4000-8000-000000000001","session":"x"}]',
      TELEGRAM_API_ID: String(s.apiId),
      TELEGRAM_API_HASH: s.apiHash,
      TELEGRAM_SERVER: JSON.stringify({ dcs: s.dcs, publicKeyPem: s.publicKeyPem }),
    });
    const hashes: (string | null)[] = [];
    for (const dc of [1, 3]) {
      // A session saved by a terminal login, then handed to the worker as TELEGRAM_ACCOUNTS does.
      const login = await signedIn(s, testPhone(dc));
      await login.invoke(new Api.account.UpdateUsername({ username: `poster_${dc}` }));
      await creator.invoke(
        new Api.channels.EditAdmin({
          channel: inputChannel(channel),
          userId: await resolveUser(creator, `poster_${dc}`),
          adminRights: new Api.ChatAdminRights({ postMessages: true }),
          rank: '',
        }),
      );
      const session = login.session.save() as unknown as string;
      await login.destroy();
      const gateway = new GramJsGateway(
        createTelegramClient({ session, apiId: config.apiId!, apiHash: config.apiHash!, server: config.server }),
      );
      track(gateway.client);
      await gateway.start();
      const peer = await gateway.resolvePeer('@shared_target');
      hashes.push(peer.accessHash);
      await gateway.send({ peer, text: `from DC ${dc}`, parseMode: 'plain', silent: false, linkPreview: true, randomId: '7' });
    }
    expect(hashes[0]).not.toBe(hashes[1]);
    expect((await history(creator, channel)).map((m) => m.message).sort()).toEqual(['from DC 1', 'from DC 3']);
  });
});
