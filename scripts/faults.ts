// `npm run faults [-- flags]`: the fault scenarios against the real worker (child processes
// running their GramJS network stack), a Telegram stand-in per scenario in this process, and an
// embedded Postgres of its own. Exit code 1 when any run of any scenario lost, duplicated or miscounted a
// message. `--help` lists the flags.
import { parseArgs } from 'node:util';
import { startOwnCluster } from './bench/cluster.ts';
import { checkFlags } from './lib/cli.ts';
import { writeResults } from './bench/report.ts';
import { type FaultClusters, reapWorkers, type ScenarioResult } from './faults/harness.ts';
import { FULL, SHORT } from './faults/scenarios.ts';
import { faultTable, runFaultSuite } from './faults/suite.ts';

const USAGE = `usage: npm run faults [-- flags]
  --short          small sizes, scenarios side by side (one to two minutes; what npm test runs)
  --only <text>    only the scenarios whose name contains <text>, e.g. --only "postgres SIGKILL"
  --repeat <n>     run the chosen scenarios n times (default 1); a summary of every run at the end
  --json           progress on stderr, the summary as JSON on the last stdout line
  --help           this text
Full suite: about ten minutes. Results in .local/faults/results.json, worker logs in .local/faults/logs/.`;

function parseFaultArgs(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      short: { type: 'boolean' },
      json: { type: 'boolean' },
      only: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a whole number ≥ 1');
  return { short: values.short === true, json: values.json === true, only: values.only, repeat };
}

if (!checkFlags('npm run faults', USAGE, process.argv.slice(2), parseFaultArgs)) process.exit();
const opts = parseFaultArgs(process.argv.slice(2));
// With --json, progress goes to stderr so the last stdout line is the JSON object.
const say = (msg: string) => (opts.json ? process.stderr : process.stdout).write(`${msg}\n`);

/** The cluster, once started (an interrupt may come before it is up). */
const started: Partial<FaultClusters> = {};
const stopAll = async () => {
  await reapWorkers();
  await started.app?.stop().catch(() => {});
};
// Interrupted (Ctrl-C, a supervisor's SIGTERM): every worker and Postgres stop
// before we exit; dying of the signal would leave the workers (own process groups) running.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    say(`[faults] ${sig}: stopping the workers and Postgres`);
    void stopAll().finally(() => process.exit(130));
  });
}

const t0 = Date.now();
started.app = await startOwnCluster({ log: (m) => say(`[faults] ${m}`) });
const clusters: FaultClusters = { app: started.app };
let code = 1;
try {
  const results: ScenarioResult[] = [];
  const runs: Array<{ run: number; ok: boolean; failed: string[] }> = [];
  for (let run = 1; run <= opts.repeat; run++) {
    if (opts.repeat > 1) say(`[faults] run ${run} of ${opts.repeat}`);
    const r = await runFaultSuite(clusters, opts.short ? SHORT : FULL, {
      // Short runs mostly wait on timeouts: side by side they fit in npm test's time.
      logDir: opts.repeat > 1 ? `faults/logs/run-${run}` : 'faults/logs',
      only: opts.only,
      parallel: opts.short,
      log: (m) => say(`[faults] ${m}`),
    });
    results.push(...r.results);
    runs.push({ run, ok: r.ok, failed: r.results.filter((x) => !x.ok).map((x) => x.name) });
  }
  const sum = (k: 'deliveries' | 'lost' | 'duplicated') => results.reduce((a, r) => a + r[k], 0);
  const summary = {
    runs: opts.repeat,
    cleanRuns: runs.filter((r) => r.ok).length,
    scenarios: results.length,
    deliveries: sum('deliveries'),
    lost: sum('lost'),
    duplicated: sum('duplicated'),
  };
  const ok = runs.every((r) => r.ok);
  const [file] = await writeResults('faults', {
    'results.json': `${
      JSON.stringify({ at: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, summary, runs, results }, null, 2)
    }\n`,
  });
  say(`\n${faultTable(results)}\n`);
  for (const r of results) if (r.notes.length) say(`${r.name}:\n  ${r.notes.join('\n  ')}`);
  if (opts.repeat > 1) {
    say(
      `\n${summary.cleanRuns} of ${opts.repeat} runs clean${
        ok ? '' : `; failed: ${runs.filter((r) => !r.ok).map((r) => `run ${r.run} (${r.failed.join(', ')})`).join('; ')}`
      }`,
    );
  }
  say(`\n${ok ? 'all scenarios clean' : 'FAILURES above'}; ${((Date.now() - t0) / 1000).toFixed(0)} s; results in ${file}`);
  if (opts.json) console.log(JSON.stringify(summary));
  code = ok ? 0 : 1;
} finally {
  await stopAll();
}
process.exitCode = code;
