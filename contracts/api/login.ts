// Signing a Telegram account in through the API: a phone number (then the code Telegram sends,
// then the 2FA password when the account has one) or a bot token. Each call answers the next
// step; the account shows the same state as `login` (GET /accounts/{id}, Realtime).
// Every secret here (phone, token, code, password) is sealed for the workers before it is stored.
import { z } from 'zod';
import { timestampSchema } from './common.ts';

/** A phone number in international format (digits, with or without '+', spaces, dashes, parentheses), or a bot token. */
export const startLoginSchema = z.strictObject({
  phone: z.string().max(32).regex(/^\+?[\d\s()-]{5,30}$/, { error: 'must be a phone number in international format' })
    .optional(),
  botToken: z.string().max(100).regex(/^\d{1,20}:[\w-]{20,80}$/, { error: 'must be a bot token from @BotFather (<id>:<secret>)' })
    .optional(),
}).refine((b) => (b.phone === undefined) !== (b.botToken === undefined), { error: 'give either phone or botToken' });

export const loginCodeSchema = z.strictObject({
  code: z.string().regex(/^\d{3,10}$/, { error: 'must be the digits Telegram sent' }),
});

/** Telegram passwords are free text; 256 bytes of UTF-8 at most here. */
export const loginPasswordSchema = z.strictObject({
  password: z.string().min(1, { error: 'must not be empty' }).max(256)
    .refine((s) => new TextEncoder().encode(s).length <= 256, { error: 'must be at most 256 bytes of UTF-8' }),
});

export const loginStateSchema = z.enum(['pending', 'code_sent', 'password_needed', 'signed_in', 'failed', 'expired']);

/** What a step answered (the call's answer and the account's `login`). No secret is ever in it. */
export const loginSchema = z.object({
  state: loginStateSchema,
  method: z.enum(['phone', 'bot']).nullable(),
  /** The phone masked to its last two digits ('+•••••••••34'), or 'bot <id>'. */
  identity: z.string().nullable(),
  /** code_sent: how Telegram sent the code (app, sms, call, flash_call, missed_call, email, fragment...), its length and how long before asking again. */
  codeType: z.string().nullable(),
  codeLength: z.number().int().nullable(),
  timeoutSeconds: z.number().int().nullable(),
  /** password_needed: the password's hint, as its owner set it. */
  hint: z.string().nullable(),
  /** failed (or a step refused): Telegram's error, and for FLOOD_WAIT the seconds to wait. */
  error: z.object({ code: z.string(), seconds: z.number().int().nullable() }).nullable(),
  /** The sign-in is dropped at this time unless its next step comes. */
  expiresAt: timestampSchema.nullable(),
  updatedAt: timestampSchema.nullable(),
});

export type StartLogin = z.input<typeof startLoginSchema>;
export type Login = z.infer<typeof loginSchema>;
export type LoginState = z.infer<typeof loginStateSchema>;
