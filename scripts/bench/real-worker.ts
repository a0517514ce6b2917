// The real worker (worker/src/main.ts) with its TELEGRAM_ACCOUNTS read from a file first: 1,000
// accounts with sessions are about 420 kB of JSON, past Linux's limit on one environment
// string (128 kB, MAX_ARG_STRLEN), so the real-client fleet points hand them over this way.
// The file (sessions are secrets) is removed as soon as it is read.
import { readFileSync, rmSync } from 'node:fs';

const file = process.env.BENCH_TELEGRAM_ACCOUNTS_FILE;
if (!file) throw new Error('BENCH_TELEGRAM_ACCOUNTS_FILE is not set');
process.env.TELEGRAM_ACCOUNTS = readFileSync(file, 'utf8');
rmSync(file, { force: true });
delete process.env.BENCH_TELEGRAM_ACCOUNTS_FILE;
await import('../../worker/src/main.ts');
