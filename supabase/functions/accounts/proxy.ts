// The account's proxy: sealed for the workers in the request's transaction (as sign-in secrets
// are), stored by set_account_proxy with what the account shows of it (type, host, port). This
// function keeps no plaintext and can read none back; a worker re-seals it under its session key.
import type { Account } from '../../../contracts/api/accounts.ts';
import { type Proxy, shownProxy } from '../../../contracts/api/proxy.ts';
import { findOne, type OwnedResource } from '../_shared/crud.ts';
import type { Tx } from '../_shared/db.ts';
import { notFound } from '../_shared/errors.ts';
import { sealForWorkers } from '../_shared/seal.ts';
import { workersKey } from './login.ts';

export async function setProxy(tx: Tx, accounts: OwnedResource<Account>, accountId: string, proxy: Proxy): Promise<Account> {
  const key = await workersKey(tx, accountId);
  // Sealed with the account and `proxy` as context: it cannot be replayed as another account's.
  const sealed = await sealForWorkers(key.public_key, JSON.stringify(proxy), `${accountId}:proxy`);
  await tx`select public.set_account_proxy(${accountId}::uuid, ${tx.json(shownProxy(proxy))}::jsonb, ${key.key_id},
    ${sealed})`;
  return findOne(tx, accounts, accountId);
}

export async function clearProxy(tx: Tx, accounts: OwnedResource<Account>, accountId: string): Promise<Account> {
  if (!(await tx`select 1 from public.telegram_accounts where id = ${accountId}`).length) throw notFound('account');
  await tx`select public.set_account_proxy(${accountId}::uuid, null)`;
  return findOne(tx, accounts, accountId);
}
