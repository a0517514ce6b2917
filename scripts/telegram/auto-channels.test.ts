// The local stack's convenience (ModelOptions.autoChannels), through MTProto with real GramJS
// clients: not Telegram's behaviour, which peers.test.ts checks with the option off (an unknown
// username is USERNAME_NOT_OCCUPIED).
import { describe, expect, it } from 'vitest';
import type { TelegramClient } from 'telegram';
import { TelegramModel } from './model/model.ts';
import { createChannel, history, post, resolveChannel, rpcError, signedIn, testPhone, useStandIn } from './testing.ts';

const model = new TelegramModel({ autoChannels: true });
const { standIn, track } = useStandIn({ model });
const signIn = async () => track(await signedIn(standIn(), testPhone(2)));
const userId = async (c: TelegramClient) => BigInt((await c.getMe()).id.toString());

describe('channels made on first resolution (autoChannels)', () => {
  it('an unknown username becomes a public broadcast channel that only the auto admins post to', async () => {
    const admin = await signIn();
    const stranger = await signIn();
    model.administerAutoChannels(await userId(admin));
    const seen = await resolveChannel(admin, 'made_on_resolution');
    expect(seen.broadcast).toBe(true);
    expect(seen.username).toBe('made_on_resolution');
    await post(admin, seen, 'from an auto admin');
    const seenByStranger = await resolveChannel(stranger, 'made_on_resolution');
    expect(seenByStranger.id.toString()).toBe(seen.id.toString()); // the same channel, not a second one
    expect(await rpcError(post(stranger, seenByStranger, 'from a stranger'))).toBe('403 CHAT_WRITE_FORBIDDEN');
    expect((await history(stranger, seenByStranger)).map((m) => m.message)).toEqual(['from an auto admin']);
  });

  it('an account made an auto admin later may post to the channels made before', async () => {
    const first = await signIn();
    const later = await signIn();
    model.administerAutoChannels(await userId(first));
    await resolveChannel(first, 'made_before_later');
    const seen = await resolveChannel(later, 'made_before_later');
    expect(await rpcError(post(later, seen, 'not yet'))).toBe('403 CHAT_WRITE_FORBIDDEN');
    model.administerAutoChannels(await userId(later));
    await post(later, seen, 'now an admin');
    expect((await history(later, seen)).map((m) => m.message)).toEqual(['now an admin']);
  });

  it('a channel created through MTProto keeps the strict rules: an auto admin may not post to it', async () => {
    const creator = await signIn();
    const autoAdmin = await signIn();
    model.administerAutoChannels(await userId(autoAdmin));
    await createChannel(creator, { username: 'created_strictly' });
    const seen = await resolveChannel(autoAdmin, 'created_strictly');
    expect(await rpcError(post(autoAdmin, seen, 'not an admin here'))).toBe('403 CHAT_WRITE_FORBIDDEN');
  });
});
