// An account's proxy as a worker holds it: opened from its sealed form (a secret: its password or
// MTProxy secret is never logged), and handed to GramJS, which connects every connection of the
// account's client through it: SOCKS5 by the `socks` package it ships (extensions/PromisedNetSockets),
// MTProxy by its obfuscated transport (network/connection/TCPMTProxy, which it picks itself).
import type { TelegramClientParams } from 'telegram/client/telegramBaseClient.js';
import { PromisedNetSockets } from 'telegram/extensions/index.js';
import { type Proxy, proxySchema } from '../../../contracts/api/proxy.ts';
import { resolveTarget } from '../public-address.ts';

export type AccountProxy = Proxy;

/** How long a SOCKS5 proxy may take to open a connection to Telegram (GramJS's default is 5 s). */
const SOCKS_TIMEOUT_SECONDS = 10;

export class ProxyFormatError extends Error {}

/** The proxy from its opened JSON text. The error never quotes the text (it holds the credentials). */
export function parseProxy(text: string): AccountProxy {
  try {
    return proxySchema.parse(JSON.parse(text));
  } catch {
    throw new ProxyFormatError('the stored proxy is not a valid proxy');
  }
}

/**
 * Sockets for a proxied client. The proxy's host is an owner's choice: it is resolved before each
 * connection and must be public unless the operator allows private targets (no connections into
 * the worker's own network), and the connection goes to the address checked. A failed SOCKS
 * connection throws the `socks` package's error, which carries its options, the proxy's password
 * among them; GramJS prints it (console.error) and the worker may log it: only its message goes on.
 */
function proxiedSockets(allowPrivate: boolean): typeof PromisedNetSockets {
  return class extends PromisedNetSockets {
    override async connect(port: number, ip: string): Promise<unknown> {
      try {
        // SOCKS5: GramJS asks the proxy (its `proxy` option) for the DC at `ip`. MTProxy: GramJS
        // connects to the proxy itself, so `ip` is the proxy's.
        const socks = (this as unknown as { proxy?: { ip: string } }).proxy;
        if (socks) socks.ip = (await resolveTarget(socks.ip, allowPrivate)).address;
        else ip = (await resolveTarget(ip, allowPrivate)).address;
        return await super.connect(port, ip);
      } catch (err) {
        throw new Error(`through the account's proxy: ${String((err as Error)?.message ?? err).slice(0, 200)}`);
      }
    }
  };
}

/** GramJS's client options for it; `allowPrivate`: local development and tests only. */
export function gramjsProxy(p: AccountProxy, allowPrivate: boolean): Pick<TelegramClientParams, 'proxy' | 'networkSocket'> {
  const networkSocket = proxiedSockets(allowPrivate);
  return p.type === 'socks5'
    ? {
      proxy: {
        socksType: 5,
        ip: p.host,
        port: p.port,
        username: p.username,
        password: p.password,
        timeout: SOCKS_TIMEOUT_SECONDS,
      },
      networkSocket,
    }
    : { proxy: { MTProxy: true, ip: p.host, port: p.port, secret: p.secret }, networkSocket };
}

/** What may be logged of it. */
export const proxyLabel = (p: AccountProxy) => `${p.type} ${p.host}:${p.port}`;
