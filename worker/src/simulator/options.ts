// What the Telegram simulator does; JSON-serialisable so a worker child process can take it
// from the SIMULATOR_CONFIG environment variable.
import { z } from 'zod';
import { sleep } from '../../../contracts/time.ts';

/** The simulator's time (epoch ms): the real clock, or a test's that moves only when told. */
export interface SimulatorClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: SimulatorClock = { now: () => Date.now(), sleep };

/** Behaviour of one target, keyed by its peer as stored on the channel (e.g. "@news"). */
export const TargetBehaviour = z.object({
  /** Answer every send with this RPC error, e.g. CHAT_WRITE_FORBIDDEN (code 403) or INTERNAL (500). */
  error: z.string().optional(),
  code: z.number().int().optional(),
  /** Only the first N sends get the error (transient faults); default: all of them. */
  times: z.number().int().positive().optional(),
  /** Never answer the first `times` sends: 'before' posting nothing, 'after' posting the message. */
  hang: z.enum(['before', 'after']).optional(),
  /**
   * Telegram takes this long to process the first `times` sends (default: all) before posting
   * and answering; a resend with the same random_id meanwhile gets 500 RANDOM_ID_DUPLICATE.
   */
  processingMs: z.number().int().positive().optional(),
  /** Channel slow mode: a second message within this many seconds gets SLOWMODE_WAIT_X. */
  slowmodeSeconds: z.number().int().positive().optional(),
  /** The username does not exist (resolution fails with USERNAME_NOT_OCCUPIED). */
  missing: z.boolean().optional(),
});
export type TargetBehaviour = z.infer<typeof TargetBehaviour>;

export const SimulatorOptions = z.object({
  /** Round-trip time of every call, uniformly in [min, max] ms. */
  latencyMs: z.tuple([z.number().min(0), z.number().min(0)]).default([0, 0]),
  /** Messages per second an account may send before Telegram answers FLOOD_WAIT. */
  accountPerSecond: z.number().positive().default(30),
  /** Messages per minute into one chat before FLOOD_WAIT (Telegram: about 20 in groups). */
  chatPerMinute: z.number().positive().default(20),
  /** FLOOD_WAIT length when one of the limits above is exceeded. */
  limitFloodSeconds: z.number().int().positive().default(5),
  /** Injected: after this many successful sends of an account, one FLOOD_WAIT_X. */
  floodAfter: z.object({ sends: z.number().int().nonnegative(), seconds: z.number().int().positive() }).optional(),
  /** Injected: after this many successful sends, the account gets PEER_FLOOD on every send. */
  peerFloodAfter: z.number().int().nonnegative().optional(),
  /**
   * Injected: once this many messages were posted (all accounts together), Telegram becomes
   * unreachable for forMs (for the listed accounts, default all): requests then never answer.
   */
  unreachable: z.object({
    afterSends: z.number().int().nonnegative(),
    forMs: z.number().int().positive(),
    accounts: z.array(z.string()).optional(),
  }).optional(),
  /** Uploaded files' references stop being accepted this long after the upload (FILE_REFERENCE_EXPIRED). */
  fileReferenceTtlMs: z.number().int().positive().optional(),
  /** Accounts whose session Telegram no longer accepts (AUTH_KEY_UNREGISTERED). */
  revokedAccounts: z.array(z.string()).default([]),
  targets: z.record(z.string(), TargetBehaviour).default({}),
});
export type SimulatorOptions = z.infer<typeof SimulatorOptions>;
export type SimulatorOptionsInput = z.input<typeof SimulatorOptions>;
