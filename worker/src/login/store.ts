// The SQL of sign-in steps: thin calls of the RPCs of supabase/migrations/*_api_sign_in.sql.
import type { SqlExecutor } from '../db.ts';
import type { SealedSession } from '../sessions/vault.ts';
import type { LoginKey } from './seal.ts';

export type StepKind = 'phone' | 'bot' | 'code' | 'password';

export interface TakenStep {
  id: string;
  accountId: string;
  kind: StepKind;
  keyId: string;
  /** The sealed secret (the database clears it with the answer). */
  sealed: Buffer;
  /** The account's label: the first name of a number that signs up. */
  label: string;
  /** A later step: the sign-in's state as the last step left it, sealed under a session key. */
  state: SealedSession | null;
}

/** What a step answered: the login state the account shows. Never a secret. */
export interface StepAnswer {
  state: 'code_sent' | 'password_needed' | 'signed_in' | 'failed';
  codeType?: string;
  codeLength?: number | null;
  timeoutSeconds?: number | null;
  hint?: string | null;
  error?: { code: string; seconds?: number | null } | null;
}

export async function publishLoginKey(db: SqlExecutor, key: LoginKey): Promise<void> {
  await db.query('select public.worker_publish_login_key($1, $2)', [key.id, key.publicKey]);
}

/** `lockPid`: the worker's lock session; a step it takes is performed again, or answered, once that session is gone. */
export async function takeLoginSteps(
  db: SqlExecutor,
  workerId: string,
  keyIds: string[],
  limit: number,
  lockPid: number,
): Promise<TakenStep[]> {
  const { rows } = await db.query('select * from public.worker_take_login_steps($1, $2, $3, $4)', [
    workerId,
    keyIds,
    limit,
    lockPid,
  ]);
  return rows.map((r) => ({
    id: r.id,
    accountId: r.account_id,
    kind: r.kind,
    keyId: r.key_id,
    sealed: r.sealed,
    label: r.label,
    state: r.state_key_id ? { keyId: r.state_key_id, nonce: r.state_nonce, ciphertext: r.state_ciphertext } : null,
  }));
}

/** Stores the sealed state of the account's sign-in in progress, for whichever worker takes its next step. */
export async function storeLoginState(db: SqlExecutor, accountId: string, state: SealedSession): Promise<void> {
  await db.query('select public.worker_store_login_state($1, $2, $3, $4)', [
    accountId,
    state.keyId,
    state.nonce,
    state.ciphertext,
  ]);
}

/**
 * `wrongSecret`: a wrong code or password (counted against the account's and user's attempts);
 * `finished`: the sign-in is over (signed in, or failed for good) and no longer held.
 */
export async function answerLoginStep(
  db: SqlExecutor,
  stepId: string,
  answer: StepAnswer,
  flags: { wrongSecret: boolean; finished: boolean },
): Promise<void> {
  await db.query('select public.worker_answer_login_step($1, $2, $3, $4)', [
    stepId,
    JSON.stringify(answer),
    flags.wrongSecret,
    flags.finished,
  ]);
}
