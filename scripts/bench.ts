// `npm run bench [-- --json] [-- --short] [-- --out <dir>]`: pipeline ceiling, pacing accuracy
// and fairness, pickup latency and progress latency against the real worker, the simulator and
// an embedded Postgres of its own. Writes .local/<dir: bench>/results.json and throughput.svg.
import { startOwnCluster } from './bench/cluster.ts';
import { FULL_SIZES, SHORT_SIZES } from './bench/phases.ts';
import { writeResults } from './bench/report.ts';
import { benchChart, benchTable, runBench } from './bench/run.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const out = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'bench';
// With --json, everything but the final object goes to stderr.
const say = (msg: string) => (json ? process.stderr : process.stdout).write(`${msg}\n`);

const t0 = Date.now();
// Durable settings (fsync, synchronous_commit on), like the local stack: no flattering numbers.
const cluster = await startOwnCluster({ log: (m) => say(`[bench] ${m}`) });
try {
  const r = await runBench(cluster, args.includes('--short') ? SHORT_SIZES : FULL_SIZES, (m) => say(`[bench] ${m}`));
  const files = await writeResults(out, {
    'results.json': `${JSON.stringify({ at: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, ...r }, null, 2)}\n`,
    'throughput.svg': benchChart(r),
  });
  say(`\n${benchTable(r)}\n\nmachine: ${r.machine.cpus} × ${r.machine.model}, node ${r.machine.node}`);
  say(`${((Date.now() - t0) / 1000).toFixed(0)} s; wrote ${files.join(', ')}`);
  if (json) console.log(JSON.stringify(r.summary));
} finally {
  await cluster.stop();
}
