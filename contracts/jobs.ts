// Payloads of the pg-boss jobs the SQL RPCs enqueue and the worker consumes. The SQL side
// (private.enqueue_deliveries, public.worker_flood_wait) writes exactly these shapes.
import { z } from 'zod';

/** Queue of one Telegram account's deliveries (SQL: private.delivery_queue). */
export const deliveryQueueName = (accountId: string): string => `delivery.${accountId}`;

/** Queue that wakes FLOOD_WAIT-paused campaigns once the wait is over. */
export const CAMPAIGN_RESUME_QUEUE = 'campaign-resume';

/** Queue of reach sampling rounds (taken by worker_reach_take, not by pg-boss's fetch). */
export const REACH_QUEUE = 'reach';

export const DeliveryJob = z.object({
  deliveryId: z.uuid(),
  campaignId: z.uuid(),
  accountId: z.uuid(),
});
export type DeliveryJob = z.infer<typeof DeliveryJob>;

export const CampaignResumeJob = z.object({
  accountId: z.uuid(),
});
export type CampaignResumeJob = z.infer<typeof CampaignResumeJob>;
