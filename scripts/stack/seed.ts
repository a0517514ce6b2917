// The demo user and their starter data, created through the same paths a real user's rows
// take (auth.users as the Auth service would, the rest as that user under RLS). Idempotent:
// a restart finds and reuses everything.
import pg from 'pg';
import { asUser, createUser } from '../lib/database.ts';

export const DEMO_EMAIL = 'demo@example.test';
export const DEMO_CHANNELS = ['@tg_demo_news', '@tg_demo_sales', '@tg_demo_support', 'https://t.me/tg_demo_dev'];
/** The simulator (and a fresh real account) paces at this rate; the demo's campaigns cap below it. */
export const DEMO_ACCOUNT_RATE_PER_MINUTE = 1200;

export interface DemoData {
  userId: string;
  email: string;
  accountId: string;
}

/**
 * `adminUrl`: superuser URL (auth.users belongs to the Auth service); `url`: role postgres,
 * which may act as the user like PostgREST does.
 */
export async function seedDemo(adminUrl: string, url: string): Promise<DemoData> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  let userId: string;
  try {
    const found = await admin.query<{ id: string }>('select id from auth.users where email = $1', [DEMO_EMAIL]);
    userId = found.rows[0]?.id ?? (await createUser(admin, { email: DEMO_EMAIL, userMetadata: { name: 'Demo user' } }));
  } finally {
    await admin.end();
  }

  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const accountId = await asUser(c, userId, async (t) => {
      let acc = (await t.query<{ id: string }>('select id from public.telegram_accounts order by created_at limit 1')).rows[0]
        ?.id;
      if (!acc) {
        acc = (await t.query<{ id: string }>(
          `insert into public.telegram_accounts (label, rate_per_minute) values ('Demo account', $1) returning id`,
          [DEMO_ACCOUNT_RATE_PER_MINUTE],
        )).rows[0]!.id;
        await t.query('select public.import_channels($1)', [DEMO_CHANNELS]);
        await t.query(`insert into public.templates (name, text, parse_mode) values
          ('Welcome', '<b>Hello!</b> Our weekly digest is out.', 'html')`);
      }
      return acc;
    });
    return { userId, email: DEMO_EMAIL, accountId };
  } finally {
    await c.end();
  }
}
