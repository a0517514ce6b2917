// An account's proxy: its Telegram connections (sign-in included) go through a SOCKS5 proxy or an
// MTProxy. The password or secret is sealed for the workers before it is stored; the account
// shows only type, host and port.
import { z } from 'zod';

/** A host name or an IP address (v4, or v6 without brackets). */
const host = z.string().min(1).max(253).refine(
  (h) => z.hostname().safeParse(h).success || z.ipv4().safeParse(h).success || z.ipv6().safeParse(h).success,
  { error: 'must be a host name or an IP address' },
);
const port = z.number().int().min(1).max(65535);

/** RFC 1929: a SOCKS5 user name and password are 1–255 bytes each. */
const socksCredential = z.string().min(1).max(255)
  .refine((s) => new TextEncoder().encode(s).length <= 255, { error: 'must be at most 255 bytes of UTF-8' });

export const socks5ProxySchema = z.strictObject({
  type: z.literal('socks5'),
  host,
  port,
  username: socksCredential.optional(),
  password: socksCredential.optional(),
}).refine((p) => (p.username === undefined) === (p.password === undefined), {
  error: 'give both username and password, or neither',
  path: ['password'],
});

/**
 * An MTProxy secret: 16 bytes in hex, optionally prefixed `dd` (random padding). Fake-TLS secrets
 * (`ee…`) are refused: the worker's MTProto library (GramJS) cannot speak that transport.
 */
export const mtproxySecretSchema = z.string().regex(/^(dd)?[0-9a-fA-F]{32}$/, {
  error: 'must be the MTProxy secret: 32 hex digits, optionally prefixed dd (ee… fake-TLS secrets are not supported)',
});

export const mtproxyProxySchema = z.strictObject({
  type: z.literal('mtproxy'),
  host,
  port,
  secret: mtproxySecretSchema,
});

export const proxySchema = z.discriminatedUnion('type', [socks5ProxySchema, mtproxyProxySchema]);

/** What the account shows of its proxy: never the password or secret. */
export const shownProxySchema = z.object({
  type: z.enum(['socks5', 'mtproxy']),
  host: z.string(),
  port: z.number().int(),
});

export type Proxy = z.infer<typeof proxySchema>;
export type ShownProxy = z.infer<typeof shownProxySchema>;

export const shownProxy = (p: Proxy): ShownProxy => ({ type: p.type, host: p.host, port: p.port });
