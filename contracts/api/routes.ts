// The HTTP contract as data: every call of every function, with its schemas. The functions
// register their handlers from this table, the OpenAPI document and the typed client are
// generated from it, so the three cannot drift apart.
import type { z } from 'zod';
import * as accounts from './accounts.ts';
import * as batches from './batches.ts';
import * as campaigns from './campaigns.ts';
import * as channels from './channels.ts';
import { idParamsSchema } from './common.ts';
import * as login from './login.ts';
import * as proxy from './proxy.ts';
import * as reach from './reach.ts';
import * as templates from './templates.ts';
import * as webhooks from './webhooks.ts';

export const FUNCTION_NAMES = ['channels', 'batches', 'templates', 'campaigns', 'accounts', 'webhooks'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteSpec {
  fn: FunctionName;
  method: HttpMethod;
  /** Below the function, OpenAPI style: '/', '/{id}', '/{id}/start'. */
  path: string;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Success status; 204 has no response body. */
  status: 200 | 201 | 202 | 204;
  response?: z.ZodType;
  /** A body that is not JSON (streamed by the handler), instead of `response`. */
  produces?: 'text/csv';
}

const id = idParamsSchema;

/** A POST on one campaign (an action on it or on its posts) answered with the campaign. */
const postAction = <P extends string>(path: P, summary: string) =>
  ({
    fn: 'campaigns',
    method: 'POST',
    path: `/{id}/${path}`,
    summary,
    params: id,
    status: 200,
    response: campaigns.campaignSchema,
  }) as const;

/** One route per campaign action; their handlers differ only in the RPC they call. */
const action = <A extends campaigns.CampaignAction>(a: A, summary: string) => postAction(a, summary);

export const routes = {
  listChannels: {
    fn: 'channels',
    method: 'GET',
    path: '/',
    summary: 'List channels, newest first; filter by tag',
    query: channels.channelListQuerySchema,
    status: 200,
    response: channels.channelPageSchema,
  },
  createChannel: {
    fn: 'channels',
    method: 'POST',
    path: '/',
    summary: 'Add a channel',
    body: channels.createChannelSchema,
    status: 201,
    response: channels.channelSchema,
  },
  importChannels: {
    fn: 'channels',
    method: 'POST',
    path: '/import',
    summary: 'Add up to 1000 peers; bad ones are reported per item',
    body: channels.importChannelsSchema,
    status: 200,
    response: channels.importChannelsResultSchema,
  },
  getChannel: {
    fn: 'channels',
    method: 'GET',
    path: '/{id}',
    summary: 'Get a channel',
    params: id,
    status: 200,
    response: channels.channelSchema,
  },
  updateChannel: {
    fn: 'channels',
    method: 'PATCH',
    path: '/{id}',
    summary: 'Change a channel',
    params: id,
    body: channels.updateChannelSchema,
    status: 200,
    response: channels.channelSchema,
  },
  deleteChannel: { fn: 'channels', method: 'DELETE', path: '/{id}', summary: 'Delete a channel', params: id, status: 204 },

  listBatches: {
    fn: 'batches',
    method: 'GET',
    path: '/',
    summary: 'List batches, newest first',
    query: batches.batchListQuerySchema,
    status: 200,
    response: batches.batchPageSchema,
  },
  createBatch: {
    fn: 'batches',
    method: 'POST',
    path: '/',
    summary: 'Create a batch, optionally with its channels',
    body: batches.createBatchSchema,
    status: 201,
    response: batches.batchSchema,
  },
  getBatch: {
    fn: 'batches',
    method: 'GET',
    path: '/{id}',
    summary: 'Get a batch with its channel count',
    params: id,
    status: 200,
    response: batches.batchSchema,
  },
  updateBatch: {
    fn: 'batches',
    method: 'PATCH',
    path: '/{id}',
    summary: 'Rename a batch',
    params: id,
    body: batches.updateBatchSchema,
    status: 200,
    response: batches.batchSchema,
  },
  deleteBatch: {
    fn: 'batches',
    method: 'DELETE',
    path: '/{id}',
    summary: 'Delete a batch (its channels stay)',
    params: id,
    status: 204,
  },
  listBatchChannels: {
    fn: 'batches',
    method: 'GET',
    path: '/{id}/channels',
    summary: "List a batch's channels, a page at a time",
    params: id,
    query: batches.batchChannelsQuerySchema,
    status: 200,
    response: channels.channelPageSchema,
  },
  setBatchChannels: {
    fn: 'batches',
    method: 'PUT',
    path: '/{id}/channels',
    summary: "Replace a batch's channels",
    params: id,
    body: batches.setBatchChannelsSchema,
    status: 200,
    response: batches.batchSchema,
  },

  listTemplates: {
    fn: 'templates',
    method: 'GET',
    path: '/',
    summary: 'List templates, newest first',
    query: templates.templateListQuerySchema,
    status: 200,
    response: templates.templatePageSchema,
  },
  createTemplate: {
    fn: 'templates',
    method: 'POST',
    path: '/',
    summary: 'Create a template',
    body: templates.createTemplateSchema,
    status: 201,
    response: templates.templateSchema,
  },
  getTemplate: {
    fn: 'templates',
    method: 'GET',
    path: '/{id}',
    summary: 'Get a template',
    params: id,
    status: 200,
    response: templates.templateSchema,
  },
  updateTemplate: {
    fn: 'templates',
    method: 'PATCH',
    path: '/{id}',
    summary: 'Change a template',
    params: id,
    body: templates.updateTemplateSchema,
    status: 200,
    response: templates.templateSchema,
  },
  deleteTemplate: { fn: 'templates', method: 'DELETE', path: '/{id}', summary: 'Delete a template', params: id, status: 204 },
  previewTemplate: {
    fn: 'templates',
    method: 'POST',
    path: '/{id}/preview',
    summary: 'Render a template with variables',
    params: id,
    body: templates.previewTemplateSchema,
    status: 200,
    response: templates.templatePreviewSchema,
  },

  listCampaigns: {
    fn: 'campaigns',
    method: 'GET',
    path: '/',
    summary: 'List campaigns, newest first; filter by state',
    query: campaigns.campaignListQuerySchema,
    status: 200,
    response: campaigns.campaignPageSchema,
  },
  createCampaign: {
    fn: 'campaigns',
    method: 'POST',
    path: '/',
    summary: 'Create a campaign in draft',
    body: campaigns.createCampaignSchema,
    status: 201,
    response: campaigns.campaignSchema,
  },
  getCampaign: {
    fn: 'campaigns',
    method: 'GET',
    path: '/{id}',
    summary: 'Get a campaign with its counts per delivery state',
    params: id,
    status: 200,
    response: campaigns.campaignSchema,
  },
  updateCampaign: {
    fn: 'campaigns',
    method: 'PATCH',
    path: '/{id}',
    summary: "Change a campaign's name, pace or error threshold (and a draft's start time)",
    params: id,
    body: campaigns.updateCampaignSchema,
    status: 200,
    response: campaigns.campaignSchema,
  },
  listDeliveries: {
    fn: 'campaigns',
    method: 'GET',
    path: '/{id}/deliveries',
    summary: "List a campaign's deliveries; filter by state",
    params: id,
    query: campaigns.deliveryListQuerySchema,
    status: 200,
    response: campaigns.deliveryPageSchema,
  },
  startCampaign: action('start', 'Start a draft campaign (scheduled if scheduledAt is ahead)'),
  pauseCampaign: action('pause', 'Pause a running or scheduled campaign'),
  resumeCampaign: action('resume', 'Resume a paused campaign'),
  cancelCampaign: action('cancel', 'Cancel a campaign; its pending deliveries are cancelled'),
  retryFailedDeliveries: action('retry-failed', 'Send the failed deliveries again (same random_id)'),
  editCampaignMessage: {
    fn: 'campaigns',
    method: 'PATCH',
    path: '/{id}/message',
    summary:
      "A new version of a running, paused or completed campaign's message: pending deliveries send it, every sent post is edited to it at the account's pace (once per version); 429 past 60 action requests an hour",
    params: id,
    body: campaigns.editMessageSchema,
    status: 200,
    response: campaigns.campaignSchema,
  },
  deleteCampaignPosts: postAction(
    'delete-posts',
    "Delete every post the campaign has sent, at the account's pace; 429 past 60 action requests an hour",
  ),
  pinCampaignPosts: {
    ...postAction(
      'pin',
      'Pin every post sent (and each one sent from now on); unpinAfter takes the pins off later; 429 past 60 action requests an hour',
    ),
    body: campaigns.pinSchema,
  },
  unpinCampaignPosts: postAction(
    'unpin',
    'Unpin the posts pinned (latest pin or unpin done is a pin) and pin no more; 429 past 60 action requests an hour',
  ),
  cancelPostActions: postAction('actions/cancel', 'Cancel the pending edits, deletes and pins of the posts'),
  testCampaign: {
    fn: 'campaigns',
    method: 'POST',
    path: '/{id}/test',
    summary:
      "Send the campaign's message once to the account's Saved Messages (or a channel of yours); no delivery is made, the send takes a slot of the account's pace; 409 during a FLOOD_WAIT, 429 past 3 pending tests per account or 5 per user",
    params: id,
    body: campaigns.testCampaignSchema,
    status: 200,
    response: campaigns.testSendSchema,
  },
  getCampaignReach: {
    fn: 'campaigns',
    method: 'GET',
    path: '/{id}/reach',
    summary: "A campaign's reach: totals, their history per sampling round, and each sent post's latest views (paged)",
    params: id,
    query: reach.reachQuerySchema,
    status: 200,
    response: reach.campaignReachSchema,
  },
  refreshCampaignReach: {
    fn: 'campaigns',
    method: 'POST',
    path: '/{id}/reach/refresh',
    summary: "Sample the campaign's posts now (202; the worker reads them at the account's reach pace); 429 past 20 an hour",
    params: id,
    status: 202,
    response: reach.reachRefreshSchema,
  },
  exportDeliveries: {
    fn: 'campaigns',
    method: 'GET',
    path: '/{id}/deliveries.csv',
    summary: 'Every delivery with its outcome, message id, times and latest reach, as CSV (streamed)',
    params: id,
    status: 200,
    produces: 'text/csv',
  },

  listAccounts: {
    fn: 'accounts',
    method: 'GET',
    path: '/',
    summary: 'List Telegram accounts with status, flood wait and pace',
    query: accounts.accountListQuerySchema,
    status: 200,
    response: accounts.accountPageSchema,
  },
  createAccount: {
    fn: 'accounts',
    method: 'POST',
    path: '/',
    summary: 'Register a Telegram account (its session is a worker secret)',
    body: accounts.createAccountSchema,
    status: 201,
    response: accounts.accountSchema,
  },
  getAccount: {
    fn: 'accounts',
    method: 'GET',
    path: '/{id}',
    summary: 'Get a Telegram account',
    params: id,
    status: 200,
    response: accounts.accountSchema,
  },
  updateAccount: {
    fn: 'accounts',
    method: 'PATCH',
    path: '/{id}',
    summary: "Change an account's label or pace",
    params: id,
    body: accounts.updateAccountSchema,
    status: 200,
    response: accounts.accountSchema,
  },
  deleteAccount: {
    fn: 'accounts',
    method: 'DELETE',
    path: '/{id}',
    summary: 'Delete an account no campaign uses',
    params: id,
    status: 204,
  },
  disableAccount: {
    fn: 'accounts',
    method: 'POST',
    path: '/{id}/disable',
    summary: 'Stop the account sending (status disabled): its running and scheduled campaigns pause until it is enabled',
    params: id,
    status: 200,
    response: accounts.accountSchema,
  },
  enableAccount: {
    fn: 'accounts',
    method: 'POST',
    path: '/{id}/enable',
    summary:
      'Give a disabled account back its real status (revoked, limited, frozen, logging_in, flood_wait or active) and, active, resume the campaigns the disable paused; 409 unless disabled',
    params: id,
    status: 200,
    response: accounts.accountSchema,
  },
  startLogin: {
    fn: 'accounts',
    method: 'POST',
    path: '/{id}/login',
    summary:
      "Sign the account in to Telegram with a phone number (answers code_sent) or a bot token (signed_in); 4xx names Telegram's error",
    params: id,
    body: login.startLoginSchema,
    status: 200,
    response: login.loginSchema,
  },
  submitLoginCode: {
    fn: 'accounts',
    method: 'POST',
    path: '/{id}/login/code',
    summary: 'The code Telegram sent: answers signed_in, or password_needed with the hint; 429 after too many wrong codes',
    params: id,
    body: login.loginCodeSchema,
    status: 200,
    response: login.loginSchema,
  },
  submitLoginPassword: {
    fn: 'accounts',
    method: 'POST',
    path: '/{id}/login/password',
    summary: "The account's two-step verification password: answers signed_in; 429 after too many wrong passwords",
    params: id,
    body: login.loginPasswordSchema,
    status: 200,
    response: login.loginSchema,
  },
  setAccountProxy: {
    fn: 'accounts',
    method: 'PUT',
    path: '/{id}/proxy',
    summary:
      "Connect the account through a SOCKS5 proxy or an MTProxy (its password or secret is sealed for the workers and never shown); the account's next connection uses it",
    params: id,
    body: proxy.proxySchema,
    status: 200,
    response: accounts.accountSchema,
  },
  clearAccountProxy: {
    fn: 'accounts',
    method: 'DELETE',
    path: '/{id}/proxy',
    summary: 'Connect the account directly again (its proxy and credentials are deleted)',
    params: id,
    status: 200,
    response: accounts.accountSchema,
  },

  listWebhooks: {
    fn: 'webhooks',
    method: 'GET',
    path: '/',
    summary: 'List webhook endpoints, newest first (secrets show as their prefix)',
    query: webhooks.webhookListQuerySchema,
    status: 200,
    response: webhooks.webhookPageSchema,
  },
  createWebhook: {
    fn: 'webhooks',
    method: 'POST',
    path: '/',
    summary: 'Register an https endpoint for events; the answer holds its signing secret, shown this once',
    body: webhooks.createWebhookSchema,
    status: 201,
    response: webhooks.createdWebhookSchema,
  },
  getWebhook: {
    fn: 'webhooks',
    method: 'GET',
    path: '/{id}',
    summary: 'Get a webhook endpoint',
    params: id,
    status: 200,
    response: webhooks.webhookSchema,
  },
  updateWebhook: {
    fn: 'webhooks',
    method: 'PATCH',
    path: '/{id}',
    summary: "Change an endpoint's url, events, description or enabled",
    params: id,
    body: webhooks.updateWebhookSchema,
    status: 200,
    response: webhooks.webhookSchema,
  },
  deleteWebhook: {
    fn: 'webhooks',
    method: 'DELETE',
    path: '/{id}',
    summary: 'Delete an endpoint, its deliveries and their log',
    params: id,
    status: 204,
  },
  listWebhookDeliveries: {
    fn: 'webhooks',
    method: 'GET',
    path: '/{id}/deliveries',
    summary: "The endpoint's delivery log, newest attempt first: event, attempt, status code, error, duration, times",
    params: id,
    query: webhooks.webhookListQuerySchema,
    status: 200,
    response: webhooks.webhookAttemptPageSchema,
  },
  testWebhook: {
    fn: 'webhooks',
    method: 'POST',
    path: '/{id}/test',
    summary: 'Send a webhook.test event to this endpoint (subscribed or not)',
    params: id,
    status: 202,
    response: webhooks.webhookTestResultSchema,
  },
} as const satisfies Record<string, RouteSpec>;

export type Routes = typeof routes;
export type OperationId = keyof Routes;

type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;
type InferIn<S> = S extends z.ZodType ? z.input<S> : undefined;
type Field<R, K extends string> = R extends { [P in K]: infer S } ? S : undefined;

/** What a handler receives after validation. */
export type ParsedInput<K extends OperationId> = {
  params: Infer<Field<Routes[K], 'params'>>;
  query: Infer<Field<Routes[K], 'query'>>;
  body: Infer<Field<Routes[K], 'body'>>;
};
/** What a client sends. */
export type RequestInput<K extends OperationId> = {
  params: InferIn<Field<Routes[K], 'params'>>;
  query: InferIn<Field<Routes[K], 'query'>>;
  body: InferIn<Field<Routes[K], 'body'>>;
};
/** The success body (undefined for 204; the text of a route that `produces` CSV). */
export type ResponseBody<K extends OperationId> = Routes[K] extends { produces: string } ? string
  : Infer<Field<Routes[K], 'response'>>;

export function operationsOf(fn: FunctionName): OperationId[] {
  return (Object.keys(routes) as OperationId[]).filter((k) => routes[k].fn === fn);
}
