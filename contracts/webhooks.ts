// Webhooks as the database, the functions and the worker share them: the event types, the
// pg-boss queue and its job, the signature header, and the address ranges no webhook may reach
// (the migration's private.is_public_address holds the same list; a test compares the two).
import { z } from 'zod';

/** Events an endpoint may subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  'campaign.completed',
  'campaign.paused',
  'campaign.error_threshold_reached',
  'account.limited',
  'account.revoked',
  'reach.sampled',
] as const;
/** What `POST /webhooks/{id}/test` sends; not subscribable. */
export const WEBHOOK_TEST_EVENT = 'webhook.test';

/** One job per (event, endpoint); its id is the delivery's id. */
export const WEBHOOK_QUEUE = 'webhooks';
export const WebhookJob = z.object({ deliveryId: z.uuid() });
export type WebhookJob = z.infer<typeof WebhookJob>;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>` */
export const SIGNATURE_HEADER = 'webhook-signature';
/** The event's id, the same on every attempt: receivers deduplicate by it. */
export const WEBHOOK_ID_HEADER = 'webhook-id';
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * Not the public internet: this host, private networks, link-local (cloud metadata), CGNAT,
 * documentation and benchmarking nets, multicast, reserved; IPv6 equivalents, and IPv4-mapped,
 * NAT64 and 6to4 forms, which could carry any of the IPv4 ones.
 */
export const NON_PUBLIC_RANGES = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/127',
  '::ffff:0:0/96',
  '64:ff9b::/96',
  '64:ff9b:1::/48',
  '100::/64',
  '2001::/23',
  '2001:db8::/32',
  '2002::/16',
  'fc00::/7',
  'fe80::/10',
  'fec0::/10',
  'ff00::/8',
] as const;
