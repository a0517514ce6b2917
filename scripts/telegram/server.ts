// `npm run telegram`: starts the Telegram stand-in on loopback and prints what a
// GramJS client needs to reach it (the future stack.json `telegram` entry) as one JSON line.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkFlags } from '../lib/cli.ts';
import { startStandIn } from './mtproto/server.ts';

const COMMAND = 'npm run telegram';
const USAGE = `Usage: ${COMMAND} [options]

Starts the Telegram stand-in (a model of Telegram reached over MTProto 2.0 on TCP; see
scripts/telegram/README.md) on 127.0.0.1, one port per DC, and prints one JSON line:
  {"dcs":[{"id":1,"host":"127.0.0.1","port":…},…],"publicKeyPem":"…","apiId":…,"apiHash":"…"}
A GramJS client given it connects with scripts/telegram/client.ts (standInClient). Sign in with
test numbers 99966XYYYY (X = DC 1–3); the code is X repeated five times. Ctrl-C stops it.

Options:
  --ports A,B,C     the ports of DC 1, 2 and 3 (default: free ports below 32768)
  --key-file PATH   a PEM RSA private key (default: a new 2048-bit key each start)
  -h, --help        this help`;

const options = { ports: { type: 'string' }, 'key-file': { type: 'string' } } as const;
const argv = process.argv.slice(2);
if (!checkFlags(COMMAND, USAGE, argv, (args) => parseArgs({ args, options, strict: true }))) process.exit();
const { values } = parseArgs({ args: argv, options, strict: true });
const ports = values.ports?.split(',').map(Number);
if (ports && (ports.length !== 3 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 32767))) {
  // GramJS's StringSession stores the port as a signed 16-bit number.
  console.error(`${COMMAND}: --ports takes three ports from 1 to 32767, e.g. --ports 21001,21002,21003`);
  process.exit(2);
}

const standIn = await startStandIn({
  ports,
  privateKeyPem: values['key-file'] ? readFileSync(values['key-file'], 'utf8') : undefined,
  log: (line) => console.error(line),
});
const { dcs, publicKeyPem, apiId, apiHash } = standIn;
console.log(JSON.stringify({ dcs, publicKeyPem, apiId, apiHash }));
const stop = () => void standIn.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
