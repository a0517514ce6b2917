// The edit-pace point: one account's campaign sent through the worker's real GramJS stack against
// the MTProto stand-in (as fleet-real.ts runs it), then every post edited and then deleted through
// the RPCs the API calls (edit_campaign_message, delete_campaign_posts) as the owner. For each
// action: the ideal time at the account's pace, the time from the request's commit to the last
// action recorded (delivery_actions.done_at), their ratio, the most calls the stand-in saw in any
// second, and the calls per post that reached it (exactly 1 each).
import pg from 'pg';
import { sleep } from '../../contracts/time.ts';
import { asUser, withClient } from '../lib/database.ts';
import type { AppDatabase, BenchCluster } from './cluster.ts';
import { measure, watchExit } from './fleet.ts';
import { channelNames, onFreshStandIn, realWorker, type StandInProcess } from './fleet-real.ts';
import { type Fleet, seedFleet } from './fleet-seed.ts';
import { type Row, table } from './report.ts';
import { round } from './stats.ts';

export interface EditPoint {
  targets: number;
  ratePerMinute: number;
}

/**
 * 1,000 posts at 20/s. Telegram documents no rate for user accounts (it answers FLOOD_WAIT_X,
 * core.telegram.org/api/errors); for bots it asks for no more than about 30 messages a second
 * overall (core.telegram.org/bots/faq), so 20/s is a realistic busy account.
 */
export const FULL_EDIT: EditPoint = { targets: 1000, ratePerMinute: 1200 };

export interface ActionRun {
  /** (posts − 1) intervals at the account's pace: the first action may go at once. */
  idealSeconds: number;
  /** The request's commit → the last action's done_at; null when not all were done in time. */
  seconds: number | null;
  ratio: number | null;
  done: number;
  failed: number;
  /** Most calls the stand-in received within any one second (a sliding window). */
  maxPerSecond: number;
  /** Calls per post that reached the stand-in, fewest and most (both 1: each post once). */
  perPost: { min: number; max: number };
}

export interface EditPaceResult extends EditPoint {
  sendSeconds: number | null;
  sendRatio: number | null;
  posted: number | null;
  edit: ActionRun | null;
  delete: ActionRun | null;
  load: [number, number];
  error?: string;
}

/** The most of `times` (ms) within any window of 1 s. */
export function maxInAnySecond(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; j < t.length; j++) {
    while (t[j]! - t[i]! >= 1000) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

/** Waits until no action of `kind` is pending; the done and failed counts and the last done_at (ms). */
async function settle(db: AppDatabase, campaignId: string, kind: string, deadline: number) {
  for (;;) {
    const r = await withClient(db.adminUrl, async (c) => {
      const { rows } = await c.query<{ pending: number; done: number; failed: number; last: number | null }>(
        `select count(*) filter (where state = 'pending')::int as pending, count(*) filter (where state = 'done')::int as done,
                count(*) filter (where state = 'failed')::int as failed, extract(epoch from max(done_at)) * 1000 as last
         from public.delivery_actions where campaign_id = $1 and kind = $2`,
        [campaignId, kind],
      );
      return rows[0]!;
    });
    if ((r.pending === 0 && r.done + r.failed > 0) || Date.now() > deadline) return { ...r, settled: r.pending === 0 };
    await sleep(250);
  }
}

/** One action over every post: the RPC as the owner, then its settling, against the stand-in's log. */
async function timeAction(
  db: AppDatabase,
  fleet: Fleet,
  standIn: StandInProcess,
  point: EditPoint,
  kind: 'edit' | 'delete',
  posts: string[],
): Promise<ActionRun> {
  const [owner, campaignId] = [fleet.owners[0]!, fleet.campaignIds[0]!];
  const idealSeconds = round(((point.targets - 1) * 60) / point.ratePerMinute, 2);
  const c = new pg.Client({ connectionString: db.url, application_name: `tg-bench ${kind}` });
  await c.connect();
  let committed: number;
  try {
    await asUser(
      c,
      owner.userId,
      (t) =>
        kind === 'edit'
          ? t.query(`select public.edit_campaign_message($1, '{"text":"Edited by the edit-pace benchmark"}')`, [campaignId])
          : t.query('select public.delete_campaign_posts($1)', [campaignId]),
    );
    committed = Date.now();
  } finally {
    await c.end();
  }
  const s = await settle(db, campaignId, kind, committed + idealSeconds * 3000 + 30_000);
  const seen = await standIn.call<{ times: number[]; min: number; max: number }>('actions', { kind, posts });
  const seconds = s.settled && s.last !== null ? round((Number(s.last) - committed) / 1000, 2) : null;
  return {
    idealSeconds,
    seconds,
    ratio: seconds === null ? null : round(seconds / idealSeconds, 3),
    done: s.done,
    failed: s.failed,
    maxPerSecond: maxInAnySecond(seen.times),
    perPost: { min: seen.min, max: seen.max },
  };
}

/** The point on a fresh database and stand-in: send, then edit every post, then delete them. */
export async function runEditPace(cluster: BenchCluster, point: EditPoint, log: (m: string) => void): Promise<EditPaceResult> {
  const base = { ...point, sendSeconds: null, sendRatio: null, posted: null, edit: null, delete: null };
  return await onFreshStandIn<EditPaceResult>(cluster, 'tg_edit_pace', base, async ({ db, standIn, started }) => {
    const fleet = await seedFleet(db, { accounts: 1, campaignsPerAccount: 1, ...point });
    const sessions = await standIn.call<string[]>('seed', { channels: await channelNames(db, fleet, point.targets) });
    const worker = started(await realWorker(db, 'edit-pace', fleet.accountIds, sessions, standIn.entry, 60_000));
    const died = watchExit(worker);
    const sent = await measure(cluster, db, fleet, worker, (point.targets * 60) / point.ratePerMinute);
    const posts = await standIn.call<string[]>('postIds');
    log(`  edit pace: sent ${sent.delivered} in ${sent.seconds} s (×${sent.ratio}); ${posts.length} posts; editing`);
    const edit = await timeAction(db, fleet, standIn, point, 'edit', posts);
    log(`  edit pace: ${rowOf('edit', edit).value}; deleting`);
    const del = await timeAction(db, fleet, standIn, point, 'delete', posts);
    const error = died();
    return {
      ...point,
      sendSeconds: sent.seconds,
      sendRatio: sent.ratio,
      posted: posts.length,
      edit,
      delete: del,
      ...(error ? { error } : {}),
    };
  });
}

function rowOf(kind: 'edit' | 'delete', a: ActionRun | null, r?: EditPaceResult): Row {
  const pace = r ? ` at ${r.ratePerMinute / 60}/s` : '';
  if (!a) return { metric: `${kind} every post${pace}`, value: 'not run', ok: false };
  const time = a.seconds === null ? `UNFINISHED (${a.done} done)` : `${a.seconds} s / ${a.idealSeconds} s = ×${a.ratio}`;
  return {
    metric: `${kind} ${r?.posted ?? a.done} posts${pace}: commit → last recorded / ideal`,
    value: `${time}; max ${a.maxPerSecond} in any second; ${a.perPost.min}–${a.perPost.max} ${kind}s per post reached Telegram` +
      `${a.failed ? `; ${a.failed} failed` : ''}`,
    target: '×1.1, 1 per post',
    ok: a.ratio !== null && a.ratio <= 1.1 && a.perPost.min === 1 && a.perPost.max === 1 && a.failed === 0,
  };
}

export function editPaceTable(r: EditPaceResult): string {
  const rows: Row[] = [
    {
      metric: `send ${r.targets} posts on one GramJS account at ${r.ratePerMinute / 60}/s`,
      value: `${r.sendSeconds ?? 'n/a'} s (×${r.sendRatio ?? 'n/a'}), ${r.posted ?? 'n/a'} posted${
        r.error ? `; error: ${r.error}` : ''
      }`,
      target: `load ${r.load[0]}→${r.load[1]}`,
    },
    rowOf('edit', r.edit, r),
    rowOf('delete', r.delete, r),
  ];
  return table(rows, ['edit pace (GramJS worker, MTProto stand-in)', 'figures', 'target']);
}

/** The `editPace` entry of the JSON summary. */
export function editPaceSummary(r: EditPaceResult) {
  const pick = (a: ActionRun | null) =>
    a && { ratio: a.ratio, seconds: a.seconds, idealSeconds: a.idealSeconds, maxPerSecond: a.maxPerSecond, perPost: a.perPost };
  return {
    editPace: {
      targets: r.targets,
      perSecond: r.ratePerMinute / 60,
      posted: r.posted,
      edit: pick(r.edit),
      delete: pick(r.delete),
      load: r.load,
    },
  };
}

/** "1000x1200" (posts x per minute) or "none": the --edit-pace point. */
export function parseEditPace(spec: string): EditPoint | null {
  if (spec === 'none') return null;
  const m = /^(\d+)x(\d+)$/.exec(spec.trim());
  if (!m || Number(m[1]) < 2 || Number(m[2]) < 1) {
    throw new Error(`--edit-pace: "${spec}" is not <posts ≥ 2>x<per minute>, e.g. 1000x1200, or none`);
  }
  return { targets: Number(m[1]), ratePerMinute: Number(m[2]) };
}
