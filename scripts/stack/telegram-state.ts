// The Telegram stand-in's state, kept in the stack's directory across restarts: the model's
// accounts and their authorizations, channels and their posts, the access-hash secret and the
// random_ids, and the auth keys of each DC. Sessions handed out before a restart keep working
// after it, and the access hashes the worker cached stay valid. Saved with v8's serializer, which
// keeps Maps, Sets, bigints, Buffers and shared references (an account sits in two maps). Not
// kept: the model's options (clock, limits, autoChannels), injected faults, rate windows, and
// one-use challenges (SRP proofs, exported authorizations). A stored file's `reference` (a
// closure over the references given out, which v8 cannot write) is rebuilt on restore.
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { deserialize, serialize } from 'node:v8';
import type { StoredFile } from '../telegram/model/media.ts';
import type { TelegramModel } from '../telegram/model/model.ts';
import type { AuthKeys } from '../telegram/mtproto/keys.ts';

const NOT_STATE = new Set(['now', 'config', 'autoChannels', 'faults', 'limits', 'twoFactor', 'transfers']);
/** Marks the fields of a class instance (Accounts, AuthKeys, …), restored into the live instance. */
const FIELDS = '__fields';
const PLAIN = [Object.prototype, Array.prototype, Map.prototype, Set.prototype, Buffer.prototype, Uint8Array.prototype];

type Tree = Record<string, unknown>;

const isInstance = (v: unknown): v is object =>
  typeof v === 'object' && v !== null && !PLAIN.includes(Object.getPrototypeOf(v) as object);

/** `parents`: the instances above `obj`; a field pointing back at one (a part's `model`) is a link, not state. */
function fieldsOf(obj: object, parents: object[] = []): Tree {
  const out: Tree = {};
  for (const [k, v] of Object.entries(obj)) {
    if (NOT_STATE.has(k) || typeof v === 'function' || parents.includes(v as object)) continue;
    out[k] = isInstance(v) ? { [FIELDS]: fieldsOf(v, [...parents, obj]) } : v;
  }
  return out;
}

function applyFields(target: object, tree: Tree): void {
  const t = target as Record<string, unknown>;
  for (const [k, v] of Object.entries(tree)) {
    if (!(k in t)) continue; // a field this version no longer has
    const nested = (v as Tree | null)?.[FIELDS] as Tree | undefined;
    if (nested && isInstance(t[k])) applyFields(t[k] as object, nested);
    else t[k] = v;
  }
}

/** Writes the state atomically (a crash mid-write leaves the previous file). */
export async function saveState(file: string, model: TelegramModel, keys: Map<number, AuthKeys>): Promise<void> {
  // Not enumerable: left out by v8's serializer wherever the file is (uploads, posts' media).
  for (const { file } of mediaOf(model).files.values()) Object.defineProperty(file, 'reference', { enumerable: false });
  const state = {
    model: fieldsOf(model),
    keys: new Map([...keys].map(([dc, k]) => [dc, fieldsOf(k)])),
  };
  await writeFile(`${file}.tmp`, serialize(state), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/** Restores what saveState wrote into a new model and key stores; false when there was nothing to restore. */
export async function restoreState(file: string, model: TelegramModel, keys: Map<number, AuthKeys>): Promise<boolean> {
  if (!existsSync(file)) return false;
  const state = deserialize(await readFile(file)) as { model: Tree; keys: Map<number, Tree> };
  freeInFlightRandomIds(state.model);
  applyFields(model, state.model);
  const media = mediaOf(model);
  for (const r of media.files.values()) r.file.reference = () => media.reference(r.issued);
  for (const [dc, k] of state.keys) if (keys.has(dc)) applyFields(keys.get(dc)!, k);
  return true;
}

/** The model's files and how it gives out their references (private to model/media.ts, like the other parts read here). */
const mediaOf = (model: TelegramModel) =>
  model.media as unknown as {
    files: Map<bigint, { file: StoredFile; issued: Map<string, number> }>;
    reference(issued: Map<string, number>): Buffer;
  };

/**
 * A send that was in flight when the state was saved never got an answer: its random_id is free
 * again, as after a failed first call (model/messages.ts).
 */
function freeInFlightRandomIds(model: Tree): void {
  const slots = ((model.randomIds as Tree | undefined)?.[FIELDS] as Tree | undefined)?.slots;
  if (!(slots instanceof Map)) return;
  for (const [k, v] of slots) if (v === 'in-flight') slots.delete(k);
}
