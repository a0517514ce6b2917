// The worker's log lines for errors: message, code, stack and cause, never the objects hung on
// an error (pg-boss's errors carry the pg client), and secrets still redacted.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../worker/src/logger.ts';

function capture(): { log: ReturnType<typeof createLogger>; lines: () => Array<Record<string, any>> } {
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger('info', dest), lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l)) };
}

describe('worker logger', () => {
  it('logs an error as type, message, code, stack and cause, without the client object on it', () => {
    const { log, lines } = capture();
    const err = Object.assign(new Error('Connection terminated unexpectedly', { cause: new RangeError('socket closed') }), {
      code: '57P01',
      client: { connectionParameters: { host: '127.0.0.1', password: 'hunter2' }, _types: { text: {}, binary: {} } },
      seconds: 42,
    });
    log.error({ err }, 'pg-boss error');
    const [line] = lines();
    expect(line!.msg).toBe('pg-boss error');
    expect(line!.err).toMatchObject({
      type: 'Error',
      message: 'Connection terminated unexpectedly',
      code: '57P01',
      seconds: 42,
      cause: { type: 'RangeError', message: 'socket closed' },
    });
    expect(line!.err.stack).toMatch(/^Error: Connection terminated unexpectedly\n\s+at /);
    expect(line!.err).not.toHaveProperty('client');
    expect(JSON.stringify(line)).not.toContain('hunter2');
  });

  it('still redacts a session carried as a plain field of an error', () => {
    const { log, lines } = capture();
    log.warn({ err: Object.assign(new Error('AUTH_KEY_UNREGISTERED'), { session: '1BVtsOK4Bu...' }) }, 'session unusable');
    expect(lines()[0]!.err.session).toBe('[redacted]');
  });
});
