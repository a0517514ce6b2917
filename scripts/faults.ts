// `npm run faults [-- --json] [-- --short] [-- --only <name>]`: the fault scenarios of issues 6 and 9
// against the real worker (child processes), the simulator and an embedded Postgres of its own.
// Exit code 1 when any scenario lost, duplicated or miscounted a message.
import { startOwnCluster } from './bench/cluster.ts';
import { writeResults } from './bench/report.ts';
import { FULL, SHORT } from './faults/scenarios.ts';
import { faultTable, runFaultSuite } from './faults/suite.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
// With --json, progress goes to stderr so the last stdout line is the JSON object.
const say = (msg: string) => (json ? process.stderr : process.stdout).write(`${msg}\n`);

const t0 = Date.now();
const cluster = await startOwnCluster({ log: (m) => say(`[faults] ${m}`) });
let code = 1;
try {
  const { summary, results, ok } = await runFaultSuite(cluster, args.includes('--short') ? SHORT : FULL, {
    // Short runs mostly wait on timeouts: side by side they fit in npm test's time.
    logDir: 'faults/logs',
    only,
    parallel: args.includes('--short'),
    log: (m) => say(`[faults] ${m}`),
  });
  const [file] = await writeResults('faults', {
    'results.json': `${
      JSON.stringify({ at: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, summary, results }, null, 2)
    }\n`,
  });
  say(`\n${faultTable(results)}\n`);
  for (const r of results) if (r.notes.length) say(`${r.name}:\n  ${r.notes.join('\n  ')}`);
  say(`\n${ok ? 'all scenarios clean' : 'FAILURES above'}; ${((Date.now() - t0) / 1000).toFixed(0)} s; results in ${file}`);
  if (json) console.log(JSON.stringify(summary));
  code = ok ? 0 : 1;
} finally {
  await cluster.stop();
}
process.exitCode = code;
