// Sealing sessions (AES-256-GCM) and the worker's key configuration: a wrong key or an altered
// row fails with a message naming key ids, never a key or a session.
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv, sessionKeys } from '../src/config.ts';
import { openSealed, parseSessionKey, seal, SessionKeyError } from '../src/sessions/vault.ts';

const A = Buffer.alloc(32, 0xa).toString('base64');
const B = Buffer.alloc(32, 0xb).toString('base64');
const SESSION = '1AgAOMTQ5LjE1NC4xNjcuNTABu-a-session';

describe('the session vault', () => {
  it('seals with a fresh nonce each time and opens with the same key', () => {
    const key = parseSessionKey(A);
    const [x, y] = [seal(key, SESSION), seal(key, SESSION)];
    expect(x.keyId).toBe(key.id);
    expect(x.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(x.nonce.equals(y.nonce)).toBe(false);
    expect(x.ciphertext.equals(y.ciphertext)).toBe(false);
    expect(openSealed([key], x)).toBe(SESSION);
    expect(openSealed([parseSessionKey(B), key], y)).toBe(SESSION);
  });

  it('refuses a key it does not hold, a key with a forged id and an altered ciphertext', () => {
    const [a, b] = [parseSessionKey(A), parseSessionKey(B)];
    const sealed = seal(a, SESSION);
    expect(() => openSealed([b], sealed)).toThrow(
      new SessionKeyError(`sealed under key ${a.id}, which this process does not hold (it holds ${b.id})`),
    );
    expect(() => openSealed([{ id: a.id, secret: b.secret }], sealed)).toThrow(/does not open: altered, or a different key/);
    const altered = { ...sealed, ciphertext: Buffer.from(sealed.ciphertext) };
    altered.ciphertext[0]! ^= 1;
    expect(() => openSealed([a], altered)).toThrow(/does not open/);
  });

  it('accepts only 32 bytes in canonical base64, and never quotes what it was given', () => {
    for (
      const bad of ['', 'not base64 at all!', Buffer.alloc(16).toString('base64'), Buffer.alloc(33).toString('base64'), `${A}x`]
    ) {
      let message = '';
      try {
        parseSessionKey(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/must be 32 bytes in base64/);
      if (bad) expect(message).not.toContain(bad);
    }
    // A key object shows its size, never its bytes, wherever it is inspected or serialised.
    expect(JSON.stringify(parseSessionKey(A))).not.toContain(A);
  });
});

describe('the worker configuration of sealed sessions', () => {
  const env = { DATABASE_URL: 'postgres://x', TELEGRAM_MODE: 'gramjs', TELEGRAM_API_ID: '1', TELEGRAM_API_HASH: 'h' };

  it('gramjs mode with WORKER_SESSION_KEY needs no TELEGRAM_ACCOUNTS; old keys open too', () => {
    const c = configFromEnv({ ...env, WORKER_SESSION_KEY: A, WORKER_SESSION_KEYS_OLD: ` ${B} ,` });
    expect(c.accounts).toBeNull();
    expect(sessionKeys(c).map((k) => k.id)).toEqual([parseSessionKey(A).id, parseSessionKey(B).id]);
  });

  it('gramjs mode with neither a key nor a list is refused, naming both', () => {
    expect(() => configFromEnv(env)).toThrow(/needs WORKER_SESSION_KEY .* or TELEGRAM_ACCOUNTS/);
  });

  it('a malformed key is refused by name, its value never echoed', () => {
    const bad = 'c2VjcmV0LWJ1dC10b28tc2hvcnQ=';
    for (const v of [{ WORKER_SESSION_KEY: bad }, { WORKER_SESSION_KEY: A, WORKER_SESSION_KEYS_OLD: bad }]) {
      let err: unknown;
      try {
        configFromEnv({ ...env, ...v });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/WORKER_SESSION_KEY.*: a session key must be 32 bytes/);
      expect((err as Error).message).not.toContain(bad);
    }
  });

  it('WORKER_MAX_ACCOUNTS bounds the accounts served; SIMULATOR_MAX_ACCOUNTS, its former name, still does', () => {
    const sim = { DATABASE_URL: 'postgres://x', TELEGRAM_MODE: 'simulator' };
    expect(configFromEnv({ ...sim, WORKER_MAX_ACCOUNTS: '7' }).maxAccounts).toBe(7);
    expect(configFromEnv({ ...sim, SIMULATOR_MAX_ACCOUNTS: '9' }).maxAccounts).toBe(9);
    expect(configFromEnv(sim).maxAccounts).toBe(1_000);
  });
});
