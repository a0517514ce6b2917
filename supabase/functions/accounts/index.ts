// Function `accounts`: the Telegram accounts campaigns send with. Status and flood wait are the
// worker's to write; users set a label and the pace, and sign the account in (login.ts). Sessions
// never pass through here; phone numbers, codes and passwords pass only sealed for the workers.
// Each account carries the caller's campaigns it paused (account_paused_campaigns, under RLS).
import type { Account, PausedCampaign } from '../../../contracts/api/accounts.ts';
import { defineFunction, serveIfMain } from '../_shared/app.ts';
import type { Tx } from '../_shared/db.ts';
import { deleteOne, findOne, insertOne, iso, isoNN, listPage, type OwnedResource, updateOne } from '../_shared/crud.ts';
import { identityOf, loginDto, requestStep } from './login.ts';
import { clearProxy, setProxy } from './proxy.ts';

export const accountResource: OwnedResource<Account> = {
  table: 'telegram_accounts',
  noun: 'account',
  select: `t.id, t.label, t.status, t.status_reason, t.flood_wait_until, t.unreachable_since, t.unreachable_reason,
    t.rate_per_minute, t.login, t.proxy, t.created_at, t.updated_at, public.account_paused_campaigns(t.id) as paused_campaigns`,
  columns: { label: 'label', ratePerMinute: 'rate_per_minute' },
  toDto: (r) => ({
    id: r.id,
    label: r.label,
    status: r.status,
    statusReason: r.status_reason,
    floodWaitUntil: iso(r.flood_wait_until),
    unreachableSince: iso(r.unreachable_since),
    unreachableReason: r.unreachable_reason,
    pausedCampaigns: (r.paused_campaigns as Array<PausedCampaign & { resumeAt: string | null }>).map((c) => ({
      ...c,
      resumeAt: c.resumeAt && new Date(c.resumeAt).toISOString(),
    })),
    ratePerMinute: r.rate_per_minute,
    login: loginDto(r.login),
    proxy: r.proxy ?? null,
    createdAt: isoNN(r.created_at),
    updatedAt: isoNN(r.updated_at),
  }),
};

/** The owner's switch (the RPC pauses the campaigns, 404 not yours, 409 enabling one not disabled). */
async function setEnabled(tx: Tx, id: string, enabled: boolean): Promise<Account> {
  await tx`select public.set_account_enabled(${id}::uuid, ${enabled})`;
  return findOne(tx, accountResource, id);
}

const accounts = defineFunction('accounts', {
  listAccounts: ({ tx, query }) => listPage(tx, accountResource, query),
  createAccount: ({ tx, body }) => insertOne(tx, accountResource, body),
  getAccount: ({ tx, params }) => findOne(tx, accountResource, params.id),
  updateAccount: ({ tx, params, body }) => updateOne(tx, accountResource, params.id, body),
  // A campaign still referring to the account makes this a 409 (foreign key), not a cascade.
  deleteAccount: ({ tx, params }) => deleteOne(tx, accountResource, params.id),
  disableAccount: ({ tx, params }) => setEnabled(tx, params.id, false),
  enableAccount: ({ tx, params }) => setEnabled(tx, params.id, true),
  startLogin: ({ tx, claims, params, body }) =>
    body.botToken !== undefined
      ? requestStep(tx, claims, params.id, 'bot', body.botToken, identityOf(body))
      : requestStep(tx, claims, params.id, 'phone', body.phone!, identityOf(body)),
  submitLoginCode: ({ tx, claims, params, body }) => requestStep(tx, claims, params.id, 'code', body.code),
  submitLoginPassword: ({ tx, claims, params, body }) => requestStep(tx, claims, params.id, 'password', body.password),
  setAccountProxy: ({ tx, params, body }) => setProxy(tx, accountResource, params.id, body),
  clearAccountProxy: ({ tx, params }) => clearProxy(tx, accountResource, params.id),
});

export default accounts;
serveIfMain(import.meta.main, accounts);
