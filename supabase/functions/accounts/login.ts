// Sign-in steps: each is sealed for the workers and queued in the request's transaction; after
// the commit the request waits for a worker's answer, holding no connection (as test sends do).
import type { Login } from '../../../contracts/api/login.ts';
import { sleep } from '../../../contracts/time.ts';
import { AfterCommit } from '../_shared/app.ts';
import type { UserClaims } from '../_shared/auth.ts';
import { iso } from '../_shared/crud.ts';
import { asUser, type Row, type Tx } from '../_shared/db.ts';
import { ApiError, notFound } from '../_shared/errors.ts';
import { sealForWorkers } from '../_shared/seal.ts';

export type StepKind = 'phone' | 'bot' | 'code' | 'password';

/** A worker connects, asks Telegram and may follow a PHONE_MIGRATE: allow it a while. */
const ANSWER_WAIT_MS = 30_000;
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 1_000;

/** The account's `login` column as the API shows it. */
export function loginDto(l: Row | null): Login | null {
  if (!l) return null;
  return {
    state: l.state,
    method: l.method ?? null,
    identity: l.identity ?? null,
    codeType: l.codeType ?? null,
    codeLength: l.codeLength ?? null,
    timeoutSeconds: l.timeoutSeconds ?? null,
    hint: l.hint ?? null,
    error: l.error ? { code: l.error.code, seconds: l.error.seconds ?? null } : null,
    expiresAt: iso(l.expiresAt ? new Date(l.expiresAt) : null),
    updatedAt: iso(l.updatedAt ? new Date(l.updatedAt) : null),
  };
}

/** What the account shows of a phone number (its last two digits) or a bot (its id, which is public). */
export function identityOf(body: { phone?: string; botToken?: string }): string {
  if (body.botToken) return `bot ${body.botToken.split(':')[0]}`;
  const digits = (body.phone ?? '').replace(/\D/g, '');
  return `+${'•'.repeat(Math.max(0, digits.length - 2))}${digits.slice(-2)}`;
}

/** The workers' published key, for the caller's account; 404 first when the account is not theirs. */
export async function workersKey(tx: Tx, accountId: string): Promise<Row> {
  if (!(await tx`select 1 from public.telegram_accounts where id = ${accountId}`).length) throw notFound('account');
  const [key] = await tx`select key_id, public_key from public.login_public_key()`;
  if (!key) {
    throw new ApiError(503, 'unavailable', 'no worker has published its key: run a gramjs worker with WORKER_SESSION_KEY');
  }
  return key;
}

export async function requestStep(
  tx: Tx,
  claims: UserClaims,
  accountId: string,
  kind: StepKind,
  secret: string,
  identity?: string,
) {
  const key = await workersKey(tx, accountId);
  const sealed = await sealForWorkers(key.public_key, secret, `${accountId}:${kind}`);
  const [step] = await tx`select public.request_login_step(${accountId}::uuid, ${kind}, ${key.key_id}, ${sealed},
    ${identity ?? null}) as id`;
  return new AfterCommit(() => awaitAnswer(claims, accountId, step!.id));
}

async function awaitAnswer(claims: UserClaims, accountId: string, stepId: string): Promise<Login> {
  const end = Date.now() + ANSWER_WAIT_MS;
  for (let delay = POLL_FIRST_MS;; delay = Math.min(delay * 1.5, POLL_MAX_MS)) {
    const found = await asUser(claims, async (tx) => {
      const [r] = await tx`select public.login_step_answer(${stepId}::uuid) as answer,
        (select login from public.telegram_accounts where id = ${accountId}) as login`;
      return r!.answer ? r! : null;
    });
    if (found) return answered(found.answer, loginDto(found.login)!);
    if (Date.now() >= end) break;
    await sleep(Math.min(delay, end - Date.now()));
  }
  const [w] = await asUser(claims, (tx) => tx`select public.withdraw_login_step(${stepId}::uuid) as withdrawn`);
  throw new ApiError(
    503,
    'unavailable',
    w!.withdrawn
      ? 'no worker took the sign-in step in time (is a gramjs worker with WORKER_SESSION_KEY running?); it was withdrawn'
      : 'the worker has not answered yet: its answer will show on GET /accounts/{id} as login',
  );
}

/** Telegram's refusals, by the request field at fault and the HTTP status that fits. */
const REFUSALS: Record<string, [number, string | null]> = {
  PHONE_NUMBER_INVALID: [422, 'phone'],
  PHONE_NUMBER_BANNED: [422, 'phone'],
  ACCESS_TOKEN_INVALID: [422, 'botToken'],
  PHONE_CODE_INVALID: [422, 'code'],
  PHONE_CODE_EXPIRED: [409, 'code'],
  PASSWORD_HASH_INVALID: [422, 'password'],
  LOGIN_EXPIRED: [409, null],
  FLOOD_WAIT: [429, null],
};

/**
 * What the caller does after a step whose worker died performing it (the database answers it
 * STEP_INTERRUPTED once the worker's session is gone; the steps it performs again never get here).
 */
const INTERRUPTED: Record<string, string> = {
  code_sent: 'the worker died while Telegram checked the code; send the code again now ' +
    '(if Telegram had used it, the answer is PHONE_CODE_EXPIRED: then start again with POST /accounts/{id}/login)',
  failed: 'the worker died while asking Telegram for a code; a code may have been sent that can no longer be used: ' +
    'start again now with POST /accounts/{id}/login',
};

/** The step's answer: the account's login, or a 4xx naming Telegram's error when the step was refused. */
function answered(answer: Row, login: Login): Login {
  if (!answer.error) return login;
  const { code, seconds = null } = answer.error as { code: string; seconds?: number | null };
  if (code === 'STEP_INTERRUPTED') {
    throw new ApiError(503, 'login_interrupted', INTERRUPTED[answer.state] ?? INTERRUPTED.failed!, {
      headers: { 'Retry-After': '0' },
    });
  }
  const [status, field] = REFUSALS[code] ?? [502, null];
  const message = code === 'FLOOD_WAIT'
    ? `Telegram asks to wait ${seconds} s before trying again (FLOOD_WAIT)`
    : `Telegram refused the step: ${code}`;
  throw new ApiError(status, 'login_refused', message, {
    issues: field ? [{ path: [field], message: code }] : undefined,
    details: { telegramError: code, seconds },
    headers: seconds ? { 'Retry-After': String(seconds) } : undefined,
  });
}
