// Where a webhook or an account's proxy may connect: the host is resolved here and every address
// it resolves to must be public, and the connection then goes to the checked address (a name that
// resolves to a public address for the check and to 127.0.0.1 for the connection cannot slip through).
import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { NON_PUBLIC_RANGES } from '../../contracts/webhooks.ts';

// One list per family: a BlockList also matches IPv4 addresses against its IPv6 rules (as
// IPv4-mapped), and ::ffff:0:0/96 would then take in every IPv4 address.
const nonPublic = { ipv4: new BlockList(), ipv6: new BlockList() };
for (const range of NON_PUBLIC_RANGES) {
  const [net, bits] = range.split('/');
  const family = isIP(net!) === 6 ? 'ipv6' : 'ipv4';
  nonPublic[family].addSubnet(net!, Number(bits), family);
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address) === 6 ? 'ipv6' : isIP(address) === 4 ? 'ipv4' : null;
  return family !== null && !nonPublic[family].check(address, family);
}

export class RefusedAddress extends Error {}

/** The host's first address, after checking all of them (none may be private unless allowed). */
export async function resolveTarget(host: string, allowPrivate: boolean): Promise<{ address: string; family: number }> {
  const bare = host.replace(/^\[|\]$/g, '');
  const all = isIP(bare) ? [{ address: bare, family: isIP(bare) }] : await lookup(bare, { all: true, verbatim: true });
  if (!all.length) throw new RefusedAddress(`${host} does not resolve`);
  const bad = all.find((a) => !isPublicAddress(a.address));
  if (bad && !allowPrivate) throw new RefusedAddress(`${host} resolves to ${bad.address}, not a public address`);
  return all[0]!;
}

/** A `lookup` for http.request that answers with the address already checked. */
export const pinnedLookup = (target: { address: string; family: number }): LookupFunction => (_host, opts, cb) => {
  if ((opts as { all?: boolean }).all) (cb as (e: null, a: typeof target[]) => void)(null, [target]);
  else cb(null, target.address, target.family);
};
