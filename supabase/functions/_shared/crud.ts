// Shared reads and writes of user-owned tables. RLS limits every statement to the caller's rows,
// so "not yours" and "does not exist" are the same 404. Lists use keyset pagination: the cursor
// is the last row's sort key, so pages stay stable while rows are added.
import type { Fragment, Row, Tx } from './db.ts';
import { ApiError, notFound } from './errors.ts';

export interface Listable<Dto> {
  /** Trusted constants, never user input: table name and select list over alias `t`. */
  table: string;
  select: string;
  /** Trusted: a FROM clause that joins `t` to others (default: the table as `t`). */
  from?: string;
  /** Trusted: the key of order 'id' (default t.id), e.g. an indexed column of a joined table. */
  idColumn?: string;
  toDto(row: Row): Dto;
}

export interface OwnedResource<Dto> extends Listable<Dto> {
  /** For messages: 'channel' → "channel not found". */
  noun: string;
  /** Writable request fields → their columns; nothing else reaches an insert or update. */
  columns: Record<string, string>;
}

export interface PageRequest {
  limit: number;
  cursor?: string;
}
export interface Page<Dto> {
  items: Dto[];
  nextCursor: string | null;
}
/** newest: (created_at, id) descending; id: ascending ids (deliveries of one campaign). */
export type Order = 'newest' | 'id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function encodeCursor(key: string[]): string {
  return btoa(JSON.stringify(key)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeCursor(cursor: string, order: Order): string[] {
  const bad = () =>
    new ApiError(422, 'validation_failed', 'invalid cursor: pass a nextCursor from a previous page', {
      issues: [{ path: ['cursor'], message: 'invalid cursor' }],
    });
  let key: unknown;
  try {
    key = JSON.parse(atob(cursor.replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    throw bad();
  }
  const ok = Array.isArray(key) &&
    (order === 'id'
      ? key.length === 1 && UUID.test(String(key[0]))
      : key.length === 2 && /^-?\d{1,19}$/.test(String(key[0])) && UUID.test(String(key[1])));
  if (!ok) throw bad();
  return key as string[];
}

export async function listPage<Dto>(
  tx: Tx,
  r: Listable<Dto>,
  page: PageRequest,
  opts: { where?: Fragment; order?: Order } = {},
): Promise<Page<Dto>> {
  const order = opts.order ?? 'newest';
  const after = page.cursor ? decodeCursor(page.cursor, order) : undefined;
  const idColumn = tx.unsafe(r.idColumn ?? 't.id');
  const keyset = !after ? tx`` : order === 'id'
    ? tx`and ${idColumn} > ${after[0]}::uuid`
    // created_at in whole microseconds: exact, unlike a JS Date
    : tx`and (t.created_at, t.id) < ('epoch'::timestamptz + ${after[0]}::bigint * interval '1 microsecond', ${after[1]}::uuid)`;
  const rows = await tx`
    select ${tx.unsafe(r.select)}, (extract(epoch from t.created_at) * 1000000)::bigint::text as cursor_at
    from ${r.from ? tx.unsafe(r.from) : tx`${tx(r.table)} t`}
    where true ${opts.where ?? tx``} ${keyset}
    order by ${order === 'id' ? idColumn : tx`t.created_at desc, t.id desc`}
    limit ${page.limit + 1}`;
  const more = rows.length > page.limit;
  const items = more ? rows.slice(0, page.limit) : rows;
  const last = items[items.length - 1];
  return {
    items: items.map((row) => r.toDto(row)),
    nextCursor: more && last ? encodeCursor(order === 'id' ? [last.id] : [last.cursor_at, last.id]) : null,
  };
}

export async function findOne<Dto>(tx: Tx, r: OwnedResource<Dto>, id: string): Promise<Dto> {
  const [row] = await tx`select ${tx.unsafe(r.select)} from ${tx(r.table)} t where t.id = ${id}`;
  if (!row) throw notFound(r.noun);
  return r.toDto(row);
}

function writable(r: OwnedResource<unknown>, body: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(r.columns)) {
    if (body[field] !== undefined) values[column] = body[field];
  }
  return values;
}

/** Inserts with the caller as owner (the column defaults to auth.uid(); RLS checks it). */
export async function insertOne<Dto>(tx: Tx, r: OwnedResource<Dto>, body: Record<string, unknown>): Promise<Dto> {
  const values = writable(r, body);
  const [row] = await tx`
    with t as (insert into ${tx(r.table)} ${tx(values)} returning *)
    select ${tx.unsafe(r.select)} from t`;
  return r.toDto(row!);
}

export async function updateOne<Dto>(tx: Tx, r: OwnedResource<Dto>, id: string, body: Record<string, unknown>): Promise<Dto> {
  const values = writable(r, body);
  const [row] = await tx`
    with t as (update ${tx(r.table)} set ${tx(values)} where id = ${id} returning *)
    select ${tx.unsafe(r.select)} from t`;
  if (!row) throw notFound(r.noun);
  return r.toDto(row);
}

export async function deleteOne(tx: Tx, r: OwnedResource<unknown>, id: string): Promise<undefined> {
  const rows = await tx`delete from ${tx(r.table)} where id = ${id} returning id`;
  if (!rows.length) throw notFound(r.noun);
  return undefined;
}

/** ISO 8601 for timestamptz columns (postgres.js gives Dates). */
export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);
export const isoNN = (d: Date): string => d.toISOString();
