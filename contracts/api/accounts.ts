// Telegram accounts the worker sends with. The session string is a secret of the worker keyed
// by the account id: the API neither accepts nor returns it (strict bodies refuse `session`).
import { z } from 'zod';
import { idSchema, pageQuerySchema, pageSchema, patchSchema, text, timestampSchema } from './common.ts';
import { loginSchema } from './login.ts';
import { shownProxySchema } from './proxy.ts';

const accountFields = {
  label: text(1, 100),
  /** Pace: messages per minute this account may send. */
  ratePerMinute: z.number().int().min(1).max(1_000_000),
};

export const createAccountSchema = z.strictObject({
  label: accountFields.label,
  ratePerMinute: accountFields.ratePerMinute.optional(),
});
export const updateAccountSchema = patchSchema(accountFields);

export const accountStatusSchema = z.enum(['active', 'flood_wait', 'peer_flood', 'revoked', 'frozen', 'disabled']);

export const accountSchema = z.object({
  id: idSchema,
  label: z.string(),
  status: accountStatusSchema,
  statusReason: z.string().nullable(),
  /** Set while Telegram's FLOOD_WAIT is in force (status flood_wait). */
  floodWaitUntil: timestampSchema.nullable(),
  /** Since when the worker cannot reach Telegram for this account (its deliveries wait); null when it can. */
  unreachableSince: timestampSchema.nullable(),
  unreachableReason: z.string().nullable(),
  ratePerMinute: z.number().int(),
  /** The last sign-in through the API (POST /accounts/{id}/login), or null. */
  login: loginSchema.nullable(),
  /** The proxy its connections go through (PUT /accounts/{id}/proxy): type, host and port only. */
  proxy: shownProxySchema.nullable(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

export const accountListQuerySchema = pageQuerySchema;
export const accountPageSchema = pageSchema(accountSchema);

export type Account = z.infer<typeof accountSchema>;
export type CreateAccount = z.input<typeof createAccountSchema>;
