// Configuration from the environment (Supabase secrets in production, the router's env locally).
export function env(name: string): string | undefined {
  const v = Deno.env.get(name);
  return v === undefined || v === '' ? undefined : v;
}
