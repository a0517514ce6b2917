// The Telegram stand-in (scripts/telegram/) in a process of its own for the real-client fleet
// points, so its CPU is measured apart from the worker's. Driven over IPC by fleet-real.ts:
// `seed` makes signed-in sessions (sessions.ts, a stand-in-only shortcut) and each account's
// channels, `posted` counts what the channels hold, `connections` the clients connected,
// `actions` what edits and deletes of posts reached the stand-in (edit-pace.ts).
import { TelegramModel } from '../telegram/model/model.ts';
import type { Channel } from '../telegram/model/state.ts';
import { startStandIn } from '../telegram/mtproto/server.ts';
import { seedSessions } from '../telegram/sessions.ts';

/** Every account's numbers are on this DC (test numbers 99966 2 YYYY). */
const DC = 2;

export interface SeedRequest {
  /** Channel usernames of each account, in account order (none for idle accounts). */
  channels: string[][];
}

// The resolution limit (5 in 15 s per account) would make a 200-target campaign's first
// resolutions take 10 minutes; the points measure pacing, so it is lifted here. Other limits
// keep their defaults (30 messages/s per account, 20/min per chat: above the points' pace).
const model = new TelegramModel({ config: { resolve: { limit: 1_000_000, ms: 1_000 } } });
const standIn = await startStandIn({ model, log: (line) => console.error(line) });
const channels: Channel[] = [];

/** Every messages.editMessage / channels.deleteMessages call that reached the model: when, and which post. */
const reached = { edit: [] as Array<{ at: number; post: string }>, delete: [] as Array<{ at: number; post: string }> };
const after = model.afterSend;
const [editChannel, deleteInChannel] = [after.editChannel.bind(after), after.deleteInChannel.bind(after)];
after.editChannel = (editor, ch, id, text) => {
  reached.edit.push({ at: Date.now(), post: `${ch.id}/${id}` });
  return editChannel(editor, ch, id, text);
};
after.deleteInChannel = (caller, ch, ids) => {
  for (const id of ids) reached.delete.push({ at: Date.now(), post: `${ch.id}/${id}` });
  return deleteInChannel(caller, ch, ids);
};

const ops: Record<string, (args: never) => Promise<unknown>> = {
  async seed({ channels: names }: SeedRequest) {
    const seeded = await seedSessions(standIn, names.length, { dcId: DC, first: 1 });
    for (const [i, { account }] of seeded.entries()) {
      for (const username of names[i]!) {
        // The account creates the channel, so it is its creator and may post (core.telegram.org/api/rights).
        const ch = await model.createChannel(account, username, true);
        await model.updateChannelUsername(account, ch, username);
        channels.push(ch);
      }
    }
    return seeded.map((s) => s.session);
  },
  posted: async () => channels.reduce((n, ch) => n + ch.messages.length, 0),
  /** The calls of one kind (times in ms) and the calls per post, fewest and most, over `posts` (channel/id). */
  async actions({ kind, posts }: { kind: keyof typeof reached; posts: string[] }) {
    const per = new Map(posts.map((p) => [p, 0]));
    for (const r of reached[kind]) per.set(r.post, (per.get(r.post) ?? 0) + 1);
    const counts = [...per.values()];
    return { times: reached[kind].map((r) => r.at), posts: per.size, min: Math.min(...counts), max: Math.max(...counts) };
  },
  /** Every post the channels hold now, as channel/id. */
  postIds: async () => channels.flatMap((ch) => ch.messages.map((m) => `${ch.id}/${m.id}`)),
  connections: async () => standIn.dcs.reduce((n, dc) => n + standIn.connections(dc.id), 0),
};

process.on('message', (m: { id: number; op: string; args: never }) => {
  const op = ops[m.op];
  if (!op) return void process.send!({ id: m.id, error: `unknown op ${m.op}` });
  op(m.args).then(
    (value) => process.send!({ id: m.id, value }),
    (err: Error) => process.send!({ id: m.id, error: err.message }),
  );
});
// The parent gone, nothing is left to serve.
process.on('disconnect', () => void standIn.close().then(() => process.exit(0)));
const { dcs, publicKeyPem, apiId, apiHash } = standIn;
process.send!({ ready: { dcs, publicKeyPem, apiId, apiHash } });
