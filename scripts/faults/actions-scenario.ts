// Fault scenario: actions on sent posts. The campaign is sent, then (through the owner's RPCs, the
// SQL the API calls) pinned, edited to a new message version, unpinned and deleted; the worker is
// SIGKILLed mid-edit and mid-delete, when Telegram has changed 40% of the posts and its answer to
// the last is held back (some but not all recorded), and a new one started each time. Telegram's side is observed in the stand-in's model (each call of editMessage,
// channels.deleteMessages and updatePinnedMessage per post, and whether it changed the post), the
// posts' text, edit date and pin through messages.getHistory. Each post must be edited exactly
// once and deleted exactly once; action_counts must equal the action rows. The suite's send audit
// counts the history read once the campaign was sent (the deletes empty it afterwards).
import { sleep } from '../../contracts/time.ts';
import type { WorkerProcess } from '../bench/worker.ts';
import { withTimeout } from '../../worker/src/errors.ts';
import { asUser, withClient } from '../lib/database.ts';
import type { AfterSend } from '../telegram/model/after-send.ts';
import type { Channel } from '../telegram/model/state.ts';
import type { ScenarioContext, ScenarioSize, ScenarioSpec } from './harness.ts';
import { countPosts } from './stand-in.ts';

type Kind = 'edit' | 'delete' | 'pin' | 'unpin';
const COUNT_KEY = { edit: 'edited', delete: 'deleted', pin: 'pinned', unpin: 'unpinned' } as const;
const NEW_TEXT = 'Corrected: the offer runs until Sunday.';
/** How long the answer to the call a kill waits for is held (the kill comes at once). */
const HOLD_MS = 2_000;

/** Per post (`@peer#id`) and kind: calls that reached the model, and calls that changed the post. */
class Ledger {
  readonly calls = new Map<string, number>();
  readonly changed = new Map<string, number>();
  private armed?: { kind: Kind; at: number; changed: () => void };

  /**
   * Resolves when the `at`-th post is changed by `kind`; that call's answer is then held back for
   * HOLD_MS. Armed before the action is asked for, so no poll of the record can come too late.
   */
  changeAt(kind: Kind, at: number): Promise<void> {
    return new Promise((changed) => (this.armed = { kind, at, changed }));
  }

  /** After a change: holds the armed call's answer, so a kill lands between Telegram's change and the record. */
  async answer(kind: Kind): Promise<void> {
    if (this.armed?.kind !== kind || this.of(this.changed, kind).length < this.armed.at) return;
    this.armed.changed();
    this.armed = undefined;
    await sleep(HOLD_MS);
  }

  add(map: Map<string, number>, kind: Kind, post: string): void {
    map.set(`${kind} ${post}`, (map.get(`${kind} ${post}`) ?? 0) + 1);
  }

  /** Counts of `kind` per post. */
  of(map: Map<string, number>, kind: Kind): number[] {
    return [...map].filter(([k]) => k.startsWith(`${kind} `)).map(([, n]) => n);
  }

  total(map: Map<string, number>, kind: Kind): number {
    return this.of(map, kind).reduce((a, b) => a + b, 0);
  }
}

/** Wraps the model's channel actions to count them (observation only: the model still decides). */
function observe(afterSend: AfterSend, ledger: Ledger): void {
  const key = (ch: Channel, id: number) => `@${ch.username}#${id}`;
  const edit = afterSend.editChannel.bind(afterSend);
  afterSend.editChannel = async (editor, ch, id, text) => {
    ledger.add(ledger.calls, 'edit', key(ch, id));
    const m = await edit(editor, ch, id, text); // MESSAGE_NOT_MODIFIED throws: no change counted
    ledger.add(ledger.changed, 'edit', key(ch, id));
    await ledger.answer('edit');
    return m;
  };
  const pin = afterSend.pinInChannel.bind(afterSend);
  afterSend.pinInChannel = async (caller, ch, id, unpin) => {
    const kind = unpin ? 'unpin' : 'pin';
    ledger.add(ledger.calls, kind, key(ch, id));
    const m = await pin(caller, ch, id, unpin);
    ledger.add(ledger.changed, kind, key(ch, id));
    return m;
  };
  const del = afterSend.deleteInChannel.bind(afterSend);
  afterSend.deleteInChannel = async (caller, ch, ids) => {
    for (const id of ids) ledger.add(ledger.calls, 'delete', key(ch, id));
    const present = ids.filter((id) => ch.messages.some((m) => m.id === id));
    const affected = await del(caller, ch, ids);
    for (const id of present) ledger.add(ledger.changed, 'delete', key(ch, id));
    if (present.length) await ledger.answer('delete');
    return affected;
  };
}

/** Calls a campaign RPC as the campaign's owner. */
async function asOwner(ctx: ScenarioContext, sql: string, args: unknown[]): Promise<void> {
  await withClient(ctx.db.url, (c) => asUser(c, ctx.owner.userId, (t) => t.query(sql, args)));
}

/** Action rows of the campaign per kind and state. */
async function actionRows(ctx: ScenarioContext): Promise<Map<string, number>> {
  const rows = await ctx.query<{ kind: string; state: string; n: number }>(
    `select kind, state, count(*)::int as n from public.delivery_actions where campaign_id = $1 group by 1, 2`,
    [ctx.campaignId],
  );
  return new Map(rows.map((r) => [`${r.kind} ${r.state}`, r.n]));
}

/** Waits (bounded) until at least `n` actions of `kind` are recorded done; the number recorded. */
async function waitDone(ctx: ScenarioContext, kind: Kind, n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = (await actionRows(ctx)).get(`${kind} done`) ?? 0;
    if (done >= n) return done;
    if (Date.now() > deadline) throw new Error(`${done}/${n} ${kind} actions done within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Where the worker is killed: when Telegram changes this many posts (of n) by an action. */
const killAt = (n: number) => Math.ceil(n * 0.4);

/**
 * Asks for an action as the owner and SIGKILLs the worker once Telegram changed killAt posts by
 * it (the last one's answer held back); notes how many Telegram had done beyond the record, and
 * starts a new worker.
 */
async function killMidway(
  ctx: ScenarioContext,
  w: WorkerProcess,
  kind: Kind,
  ledger: Ledger,
  ask: () => Promise<void>,
): Promise<WorkerProcess> {
  const n = ctx.size.targets;
  const changed = ledger.changeAt(kind, killAt(n));
  await ask();
  await withTimeout(changed, ctx.size.settleTimeoutMs, `${kind} of ${killAt(n)} posts`);
  await w.kill();
  const recorded = (await actionRows(ctx)).get(`${kind} done`) ?? 0;
  const telegram = ledger.total(ledger.changed, kind);
  ctx.notes.push(
    `${kind}: SIGKILL at ${recorded}/${n} recorded done, Telegram had done ${telegram} (${telegram - recorded} beyond)`,
  );
  if (recorded === 0 || recorded >= n) ctx.violations.push(`${kind}: the kill came with ${recorded}/${n} actions recorded`);
  return await ctx.worker(`actions-${kind}`, ACTIONS_WORKER);
}

/** The posts as the history shows them; a violation for each post where `bad` holds. */
async function checkHistory(
  ctx: ScenarioContext,
  what: string,
  bad: (p: Awaited<ReturnType<ScenarioContext['posts']>>[number]) => boolean,
) {
  const posts = await ctx.posts();
  const wrong = posts.filter(bad);
  if (wrong.length) ctx.violations.push(`${wrong.length} of ${posts.length} posts not ${what} (e.g. ${wrong[0]!.peer})`);
  return posts;
}

/** Each post changed exactly once by `kind`, on all `n` posts. */
function exactlyOnce(ctx: ScenarioContext, ledger: Ledger, kind: Kind, n: number): void {
  const per = ledger.of(ledger.changed, kind);
  const twice = per.filter((x) => x > 1).length;
  if (per.length !== n || twice) ctx.violations.push(`${kind}: ${per.length}/${n} posts changed, ${twice} more than once`);
  const calls = ledger.total(ledger.calls, kind);
  ctx.notes.push(`${kind}: ${ledger.total(ledger.changed, kind)} posts changed by ${calls} calls`);
}

/** action_counts equal to the rows: done per kind, pending, and no failures. */
async function countsMatchRows(ctx: ScenarioContext): Promise<void> {
  const rows = await actionRows(ctx);
  const [c] = await ctx.query<{ action_counts: Record<string, unknown> }>(
    'select action_counts from public.campaigns where id = $1',
    [ctx.campaignId],
  );
  const counts = c!.action_counts;
  const kinds: Kind[] = ['edit', 'delete', 'pin', 'unpin'];
  const expected = {
    ...Object.fromEntries(kinds.map((k) => [COUNT_KEY[k], rows.get(`${k} done`) ?? 0])),
    pending: kinds.reduce((a, k) => a + (rows.get(`${k} pending`) ?? 0), 0),
  };
  const off = Object.entries(expected).filter(([k, v]) => counts[k] !== v);
  if (off.length) ctx.violations.push(`action_counts ${JSON.stringify(counts)} vs rows ${JSON.stringify(expected)}`);
  const failed = [...rows].filter(([k]) => k.endsWith(' failed'));
  if (failed.length) ctx.violations.push(`failed actions: ${failed.map(([k, n]) => `${k}: ${n}`).join(', ')}`);
}

/**
 * The product's send timeout (15 s) instead of the suite's 1 s: this scenario is about actions on
 * posts, and on a loaded machine (its stand-in shares the test process with the others) a 1 s
 * timeout leaves sends with an unknown outcome, so the campaign never counts as sent.
 */
const ACTIONS_WORKER = { env: { SEND_TIMEOUT_MS: '15000' } };

export function postActionsScenario(size: ScenarioSize, logDir: string): ScenarioSpec {
  const ledger = new Ledger();
  let sentCounts: (peer: string) => number = () => 0;
  const n = size.targets;
  return {
    name: 'edit/pin/unpin/delete, worker SIGKILL mid-edit and mid-delete',
    size,
    logDir,
    noFailures: true,
    setUp: (ctx) => observe(ctx.telegram.model.afterSend, ledger),
    auditCounts: async () => sentCounts,
    async run(ctx) {
      let w = await ctx.worker('actions-0', ACTIONS_WORKER);
      await ctx.start();
      if (!(await ctx.waitSent(n, size.settleTimeoutMs))) throw new Error('the campaign was not sent');
      sentCounts = countPosts(await ctx.posts());
      const id = ctx.campaignId;
      await asOwner(ctx, 'select public.set_post_actions($1, $2)', [id, { pin: { silent: true } }]);
      await waitDone(ctx, 'pin', n, size.settleTimeoutMs);
      await checkHistory(ctx, 'pinned', (p) => !p.pinned);
      const edit = () => asOwner(ctx, 'select public.edit_campaign_message($1, $2)', [id, { text: NEW_TEXT }]);
      w = await killMidway(ctx, w, 'edit', ledger, edit);
      await waitDone(ctx, 'edit', n, size.settleTimeoutMs);
      await asOwner(ctx, 'select public.set_post_actions($1, $2)', [id, { pin: null }]);
      await waitDone(ctx, 'unpin', n, size.settleTimeoutMs);
      await checkHistory(ctx, 'edited to the new text and unpinned', (p) => p.text !== NEW_TEXT || !p.editedAt || !!p.pinned);
      w = await killMidway(ctx, w, 'delete', ledger, () => asOwner(ctx, 'select public.delete_campaign_posts($1)', [id]));
      await waitDone(ctx, 'delete', n, size.settleTimeoutMs);
    },
    async after(ctx) {
      const left = await ctx.posts();
      if (left.length) ctx.violations.push(`${left.length} posts left after delete`);
      exactlyOnce(ctx, ledger, 'edit', n);
      exactlyOnce(ctx, ledger, 'delete', n);
      for (const kind of ['pin', 'unpin'] as const) {
        const changed = ledger.of(ledger.changed, kind).length;
        if (changed !== n) ctx.violations.push(`${kind}: ${changed}/${n} posts`);
      }
      await countsMatchRows(ctx);
    },
  };
}
