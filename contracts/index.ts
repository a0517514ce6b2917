// Everything client apps, functions and the worker share. Functions (Deno) import the api/
// modules directly; client.ts needs @supabase/supabase-js.
export * from './api/index.ts';
export * from './client.ts';
export * from './jobs.ts';
export * from './realtime.ts';
export * from './webhooks.ts';
