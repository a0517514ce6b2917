// Sealing a secret for the workers (a phone number, bot token, code or password on its way to
// Telegram): X25519 with a fresh key pair per secret against the workers' published key,
// HKDF-SHA256 of the shared secret, AES-256-GCM. Only a holder of the workers' private key opens
// it; `context` (the account and step) is authenticated, so a sealed code cannot be replayed as
// another account's. Layout: ephemeral public key (32) || nonce (12) || ciphertext and tag.
// worker/src/login/seal.ts opens it; the two must agree on INFO and the layout.
const INFO = new TextEncoder().encode('tg-campaigns login secret v1');

export async function sealForWorkers(workerPublicKey: Uint8Array, secret: string, context: string): Promise<Uint8Array> {
  const x25519 = { name: 'X25519' } as const;
  const ephemeral = (await crypto.subtle.generateKey(x25519, true, ['deriveBits'])) as CryptoKeyPair;
  const workers = await crypto.subtle.importKey('raw', new Uint8Array(workerPublicKey), x25519, false, []);
  const shared = await crypto.subtle.deriveBits(
    { name: 'X25519', public: workers } as EcdhKeyDeriveParams,
    ephemeral.privateKey,
    256,
  );
  const ephemeralRaw = new Uint8Array(await crypto.subtle.exportKey('raw', ephemeral.publicKey));
  const hkdf = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  const salt = new Uint8Array([...ephemeralRaw, ...workerPublicKey]);
  const key = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt, info: INFO },
    hkdf,
    {
      name: 'AES-GCM',
      length: 256,
    },
    false,
    ['encrypt'],
  );
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const additionalData = new TextEncoder().encode(context);
  const body = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData }, key, new TextEncoder().encode(secret)),
  );
  return new Uint8Array([...ephemeralRaw, ...nonce, ...body]);
}
