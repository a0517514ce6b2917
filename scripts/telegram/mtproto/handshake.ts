// Creating an authorization key, server side (core.telegram.org/mtproto/auth_key): req_pq_multi →
// resPQ; req_DH_params with RSA_PAD-encrypted p_q_inner_data → server_DH_params_ok;
// set_client_DH_params → dh_gen_ok. Messages are parsed and built with GramJS's TL classes.
import { createDiffieHellman, createHash, type DiffieHellman, generatePrimeSync, randomBytes } from 'node:crypto';
import { Api } from 'telegram';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { IGE } from 'telegram/crypto/IGE.js';
import { BinaryReader } from 'telegram/extensions/index.js';
import { generateKeyDataFromNonce, readBigIntFromBuffer, returnBigInt, toSignedLittleBuffer } from 'telegram/Helpers.js';
import { DH_G, DH_PRIME } from '../prime.ts';
import { rsaDecrypt, type ServerKey } from './rsa.ts';

export interface NewAuthKey {
  key: Buffer;
  /** The first server salt: substr(new_nonce, 0, 8) XOR substr(server_nonce, 0, 8). */
  salt: bigint;
}

type Nonce = Api.ResPQ['nonce'];

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();
const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((x, i) => x ^ (b[i] ?? 0)));

/**
 * One DiffieHellman for Telegram's group, made once: making one checks the prime (hundreds of
 * milliseconds of CPU), every key exchange would pay it. Each exchange sets its own private key
 * right before using it, synchronously.
 */
let group: DiffieHellman | undefined;
const dhGroup = () => (group ??= createDiffieHellman(DH_PRIME, DH_G));

export class Handshake {
  private nonce?: Nonce;
  private serverNonce?: Nonce;
  private newNonce?: Nonce;
  private p = 0n;
  private q = 0n;
  /** a, this exchange's secret exponent (2048 bits). */
  private dhPrivate?: Buffer;

  private readonly rsa: ServerKey;

  constructor(rsa: ServerKey) {
    this.rsa = rsa;
  }

  /** Answers one unencrypted request; returns the reply and, at the end, the new key. */
  async answer(req: unknown): Promise<{ reply: Api.AnyRequest | object; key?: NewAuthKey }> {
    if (req instanceof Api.ReqPqMulti || req instanceof Api.ReqPq) return { reply: this.resPQ(req.nonce) };
    if (req instanceof Api.ReqDHParams) return { reply: await this.dhParams(req) };
    if (req instanceof Api.SetClientDHParams) return await this.dhGen(req);
    throw new Error(`unexpected unencrypted message ${(req as { className?: string })?.className}`);
  }

  private resPQ(nonce: Nonce): Api.ResPQ {
    this.nonce = nonce;
    this.serverNonce = readBigIntFromBuffer(randomBytes(16), true, true);
    // pq is a product of two distinct primes below 2^32 that the client factorizes (step 1).
    this.p = generatePrimeSync(31, { bigint: true });
    do this.q = generatePrimeSync(31, { bigint: true }); while (this.q === this.p);
    if (this.p > this.q) [this.p, this.q] = [this.q, this.p];
    const pq = Buffer.from((this.p * this.q).toString(16).padStart(16, '0'), 'hex');
    return new Api.ResPQ({
      nonce,
      serverNonce: this.serverNonce,
      pq,
      serverPublicKeyFingerprints: [returnBigInt(this.rsa.fingerprint.toString())],
    });
  }

  private async dhParams(req: Api.ReqDHParams): Promise<Api.ServerDHParamsOk> {
    this.checkNonces(req);
    if (BigInt(`0x${req.p.toString('hex')}`) !== this.p || BigInt(`0x${req.q.toString('hex')}`) !== this.q) {
      throw new Error('p and q do not factor pq');
    }
    const inner = this.decryptInnerData(req.encryptedData);
    if (!(inner instanceof Api.PQInnerData || inner instanceof Api.PQInnerDataDc)) throw new Error('no p_q_inner_data');
    this.newNonce = inner.newNonce;
    this.dhPrivate = randomBytes(256);
    dhGroup().setPrivateKey(this.dhPrivate);
    const gA = dhGroup().generateKeys();
    const answer = new Api.ServerDHInnerData({
      nonce: req.nonce,
      serverNonce: req.serverNonce,
      g: DH_G,
      dhPrime: DH_PRIME,
      gA,
      serverTime: Math.floor(Date.now() / 1000),
    }).getBytes();
    const withHash = Buffer.concat([sha1(answer), answer]);
    const { key, iv } = await generateKeyDataFromNonce(req.serverNonce, inner.newNonce);
    return new Api.ServerDHParamsOk({
      nonce: req.nonce,
      serverNonce: req.serverNonce,
      encryptedAnswer: new IGE(key, iv).encryptIge(withHash),
    });
  }

  /**
   * RSA_PAD, reversed (step 2): key_aes_encrypted = temp_key_xor (32) + aes_encrypted (224);
   * temp_key = temp_key_xor XOR SHA256(aes_encrypted); AES-IGE with a zero IV gives the
   * reversed padded data followed by SHA256(temp_key + data_with_padding).
   */
  private decryptInnerData(encrypted: Buffer): unknown {
    const keyAesEncrypted = rsaDecrypt(this.rsa, encrypted);
    const aesEncrypted = keyAesEncrypted.subarray(32);
    const tempKey = xor(keyAesEncrypted.subarray(0, 32), sha256(aesEncrypted));
    const dataWithHash = new IGE(tempKey, Buffer.alloc(32)).decryptIge(aesEncrypted);
    const dataWithPadding = Buffer.from(dataWithHash.subarray(0, 192)).reverse();
    if (!sha256(Buffer.concat([tempKey, dataWithPadding])).equals(dataWithHash.subarray(192, 224))) {
      throw new Error('RSA_PAD hash mismatch');
    }
    return new BinaryReader(dataWithPadding).tgReadObject();
  }

  private async dhGen(req: Api.SetClientDHParams): Promise<{ reply: Api.DhGenOk; key: NewAuthKey }> {
    this.checkNonces(req);
    if (!this.dhPrivate || !this.newNonce) throw new Error('set_client_DH_params before req_DH_params');
    const { key, iv } = await generateKeyDataFromNonce(req.serverNonce, this.newNonce);
    const plain = new IGE(key, iv).decryptIge(req.encryptedData);
    const inner = new BinaryReader(plain.subarray(20)).tgReadObject();
    if (!(inner instanceof Api.ClientDHInnerData)) throw new Error('no client_DH_inner_data');
    dhGroup().setPrivateKey(this.dhPrivate);
    const authKey = dhGroup().computeSecret(inner.gB);
    const gramKey = new AuthKey();
    await gramKey.setKey(authKey);
    const newNonceHash1 = await gramKey.calcNewNonceHash(this.newNonce, 1);
    const salt = xor(toSignedLittleBuffer(this.newNonce, 32).subarray(0, 8), toSignedLittleBuffer(req.serverNonce, 16));
    return {
      reply: new Api.DhGenOk({ nonce: req.nonce, serverNonce: req.serverNonce, newNonceHash1 }),
      key: { key: authKey, salt: salt.readBigInt64LE(0) },
    };
  }

  private checkNonces(req: { nonce: Nonce; serverNonce: Nonce }): void {
    if (!this.nonce || !this.serverNonce || req.nonce.neq(this.nonce) || req.serverNonce.neq(this.serverNonce)) {
      throw new Error('nonce mismatch');
    }
  }
}
