// A test send: one slot of the account's pace, to its Saved Messages or the named channel; its
// outcome is the test's, never a delivery's.
import { sleep } from '../../../contracts/time.ts';
import type * as db from '../db.ts';
import { classify } from '../errors.ts';
import { SAVED_MESSAGES } from '../gateway/types.ts';
import { clock } from '../pacing.ts';
import { type AccountContext, record } from './context.ts';
import type { Failures } from './failures.ts';
import type { AccountPeers } from './peers.ts';
import { post } from './post.ts';

/** The pacer's key for test sends: they take the account's slots, never a campaign's cap. */
const TEST_SLOT = 'test';
/** A test send not sent within this long of being asked for is not sent at all (the caller gave up). */
const TEST_TTL_MS = 60_000;

export interface TestSendParts {
  ctx: AccountContext;
  peers: AccountPeers;
  failures: Failures;
  /** Sends were waiting all along (the pacer's backlogged). */
  backlogged(): boolean;
}

/**
 * The slot is booked before the wait, so tests asked together go out one slot apart; just before
 * sending, the account must still be sending and the test younger than TEST_TTL_MS (else it is
 * recorded expired, never sent). A FLOOD_WAIT answer stops the account as usual.
 */
export async function testSend(t: TestSendParts, row: db.ClaimRow): Promise<void> {
  const { ctx } = t;
  const fail = (code: string, message: string) =>
    record(ctx, row, { outcome: 'failed', errorCode: code, errorMessage: message }, true);
  const expiresAt = (row.asked_at ?? clock()) + TEST_TTL_MS;
  const expired = () => fail('TEST_EXPIRED', 'its slot came more than 60 s after it was asked for: not sent');
  const notSending = () => fail('ACCOUNT_NOT_SENDING', `the account is ${ctx.account.statusReason ?? ctx.account.status}`);
  if (row.reason === 'expired') return expired();
  if (ctx.account.status !== 'running') return notSending();
  const at = ctx.pacer.slotAt(TEST_SLOT, null);
  if (at > expiresAt) return expired();
  ctx.pacer.take(TEST_SLOT, null, t.backlogged(), at);
  if (at > clock()) await sleep(at - clock());
  if (ctx.account.status !== 'running') return notSending();
  if (clock() > expiresAt) return expired();
  try {
    const peer = row.peer === 'me' ? SAVED_MESSAGES : t.peers.known(row) ?? (await t.peers.resolve(row));
    const answer = await post(ctx, row, peer);
    record(ctx, row, { outcome: 'sent', messageId: answer.messageId }, true);
  } catch (err) {
    const c = classify(err);
    if (c.kind === 'flood_wait') t.failures.flood(Date.now() + c.seconds * 1000, c.seconds);
    fail(c.code, c.message);
  }
}
