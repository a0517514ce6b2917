// The HTTP API's contract: request/response schemas, the route table and the OpenAPI document.
export * from './common.ts';
export * from './channels.ts';
export * from './batches.ts';
export * from './templates.ts';
export * from './campaigns.ts';
export * from './accounts.ts';
export * from './login.ts';
export * from './proxy.ts';
export * from './webhooks.ts';
export * from './reach.ts';
export * from './routes.ts';
export { buildOpenApiDocument } from './openapi.ts';
