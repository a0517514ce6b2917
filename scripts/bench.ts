// `npm run bench [-- flags]`: pipeline ceiling, pacing accuracy and fairness, pickup latency,
// progress latency, and the fleet benchmark (many accounts on one worker process), against the
// real worker, the simulator and an embedded Postgres of its own; and fleet points on real
// clients (the worker's GramJS against the MTProto stand-in, bench/fleet-real.ts), and worker
// processes sharing the accounts, one killed and one stopped (bench/fleet-shared.ts); and the
// edit pace: 1,000 posts on one GramJS account edited, then deleted (bench/edit-pace.ts). Writes
// .local/<dir: bench>/results.json and throughput.svg. `--help` lists the flags.
import { startOwnCluster } from './bench/cluster.ts';
import {
  type FleetRun,
  type FleetSizes,
  fleetSummary,
  fleetTable,
  FULL_FLEET,
  parsePoints,
  runFleet,
  SHORT_FLEET,
} from './bench/fleet-run.ts';
import {
  FULL_REAL,
  parseIdle,
  type RealFleetRun,
  type RealFleetSizes,
  realFleetSummary,
  realFleetTable,
  runRealFleet,
  SHORT_REAL,
} from './bench/fleet-real.ts';
import {
  FULL_SHARED,
  parseShared,
  runSharedFleet,
  sharedFleetSummary,
  sharedFleetTable,
  type SharedPoint,
  type SharedResult,
  SHORT_SHARED,
} from './bench/fleet-shared.ts';
import {
  type EditPaceResult,
  editPaceSummary,
  editPaceTable,
  type EditPoint,
  FULL_EDIT,
  parseEditPace,
  runEditPace,
} from './bench/edit-pace.ts';
import { writeResults } from './bench/report.ts';
import type { BenchRun } from './bench/run.ts';

const USAGE = `usage: npm run bench [-- flags]
  --short            small sizes (about two minutes; what npm test runs)
  --json             progress on stderr, the summary as JSON on the last stdout line
  --out <dir>        results under .local/<dir> (default: bench)
  --fleet-only       only the fleet benchmark
  --no-fleet         skip the fleet benchmark
  --fleet <list>     fleet points as <accounts>x<campaigns per account>[busy<cores>], e.g. 1x1,10x1,50x3,1x1busy1
                     (200 targets each at 20 msg/s; busy: other processes spin on that many cores;
                     none: only the idle check; default: 1x1,1x1busy1,10x1,50x1,100x1,50x3,100x3
                     and 1,000 accounts at 60/min)
  --idle <accounts>  accounts of the idle-CPU check (0 skips it; default 1000, short 200)
  --fleet-real <list>  fleet points on real clients: the worker's GramJS against the MTProto stand-in
                     (scripts/telegram/) in a process of its own, same format as --fleet (default 10x1;
                     short and none: no point)
  --idle-real <list> idle points on real clients, in accounts (default 10,1000; short and 0: none)
  --fleet-shared <workers>x<accounts>  worker processes sharing the accounts (stored sessions, GramJS
                     against the stand-in) with campaigns running: accounts per worker, one SIGKILLed
                     and one SIGTERMed, seconds until their accounts send again (default 3x90,
                     short 3x6; none: skip)
  --edit-pace <posts>x<per minute>  one GramJS account against the stand-in sends a campaign, then every
                     post is edited and then deleted through the API's RPCs: time against the pace,
                     most calls in any second, calls per post (default 1000x1200; short and none: skip)
  --edit-pace-only   only the edit-pace point
  --help             this text`;

function parseArgs(argv: string[]) {
  const o = {
    short: false,
    json: false,
    out: 'bench',
    fleetOnly: false,
    noFleet: false,
    fleet: undefined as string | undefined,
    idle: undefined as number | undefined,
    fleetReal: undefined as string | undefined,
    idleReal: undefined as string | undefined,
    fleetShared: undefined as string | undefined,
    editPace: undefined as string | undefined,
    editPaceOnly: false,
  };
  const value = (i: number, flag: string) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a === '--short') o.short = true;
    else if (a === '--json') o.json = true;
    else if (a === '--fleet-only') o.fleetOnly = true;
    else if (a === '--no-fleet') o.noFleet = true;
    else if (a === '--out') o.out = value(i++, a);
    else if (a === '--fleet') o.fleet = value(i++, a);
    else if (a === '--fleet-real') o.fleetReal = value(i++, a);
    else if (a === '--idle-real') o.idleReal = value(i++, a);
    else if (a === '--fleet-shared') o.fleetShared = value(i++, a);
    else if (a === '--edit-pace') o.editPace = value(i++, a);
    else if (a === '--edit-pace-only') o.editPaceOnly = true;
    else if (a === '--idle') {
      o.idle = Number(value(i++, a));
      if (!Number.isInteger(o.idle) || o.idle < 0) throw new Error('--idle must be a whole number of accounts');
    } else throw new Error(`unknown flag ${a}`);
  }
  if (o.fleetOnly && o.noFleet) throw new Error('--fleet-only and --no-fleet exclude each other');
  if (o.editPaceOnly && (o.fleetOnly || o.editPace === 'none')) {
    throw new Error('--edit-pace-only excludes --fleet-only and --edit-pace none');
  }
  return o;
}

let opts: ReturnType<typeof parseArgs>;
let fleetSizes: FleetSizes;
let realSizes: RealFleetSizes;
let sharedPoint: SharedPoint | null;
let editPoint: EditPoint | null;
try {
  opts = parseArgs(process.argv.slice(2));
  const base = opts.short ? SHORT_FLEET : FULL_FLEET;
  fleetSizes = {
    points: opts.fleet !== undefined ? parsePoints(opts.fleet) : base.points,
    idle: { ...base.idle, accounts: opts.idle ?? base.idle.accounts },
  };
  const real = opts.short ? SHORT_REAL : FULL_REAL;
  realSizes = {
    ...real,
    points: opts.fleetReal !== undefined ? parsePoints(opts.fleetReal) : real.points,
    idle: opts.idleReal !== undefined ? parseIdle(opts.idleReal) : real.idle,
  };
  editPoint = opts.editPace !== undefined ? parseEditPace(opts.editPace) : opts.short ? null : FULL_EDIT;
  sharedPoint = opts.fleetShared !== undefined ? parseShared(opts.fleetShared) : opts.short ? SHORT_SHARED : FULL_SHARED;
} catch (err) {
  console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}

// With --json, everything but the final object goes to stderr.
const say = (msg: string) => (opts.json ? process.stderr : process.stdout).write(`${msg}\n`);
const t0 = Date.now();
// Durable settings (fsync, synchronous_commit on), like the local stack: no flattering numbers.
const cluster = await startOwnCluster({ log: (m) => say(`[bench] ${m}`) });
try {
  let r: BenchRun | undefined;
  let fleet: FleetRun | undefined;
  let fleetReal: RealFleetRun | undefined;
  let shared: SharedResult | undefined;
  let editPace: EditPaceResult | undefined;
  const fleets = !opts.noFleet && !opts.editPaceOnly;
  // Loaded only when needed: these phases embed the worker in this process, the fleet does not.
  const phases = opts.fleetOnly || opts.editPaceOnly ? undefined : await import('./bench/run.ts');
  if (phases) {
    const { FULL_SIZES, SHORT_SIZES } = await import('./bench/phases.ts');
    r = await phases.runBench(cluster, opts.short ? SHORT_SIZES : FULL_SIZES, (m) => say(`[bench] ${m}`));
  }
  if (fleets) fleet = await runFleet(cluster, fleetSizes, (m) => say(`[bench] ${m}`));
  if (fleets) fleetReal = await runRealFleet(cluster, realSizes, (m) => say(`[bench] ${m}`));
  if (fleets && sharedPoint) shared = await runSharedFleet(cluster, sharedPoint, (m) => say(`[bench] ${m}`));
  if (editPoint && !opts.fleetOnly) {
    say(`[bench] edit pace: ${editPoint.targets} posts on one GramJS account at ${editPoint.ratePerMinute}/min`);
    editPace = await runEditPace(cluster, editPoint, (m) => say(`[bench] ${m}`));
  }
  const files = await writeResults(opts.out, {
    'results.json': `${
      JSON.stringify(
        { at: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, ...r, fleet, fleetReal, shared, editPace },
        null,
        2,
      )
    }\n`,
    ...(r && phases ? { 'throughput.svg': phases.benchChart(r) } : {}),
  });
  if (r && phases) say(`\n${phases.benchTable(r)}\n\nmachine: ${r.machine.cpus} × ${r.machine.model}, node ${r.machine.node}`);
  if (fleet && (fleet.points.length || fleet.idle)) say(`\n${fleetTable(fleet)}`);
  const realRan = !!fleetReal && (fleetReal.points.length > 0 || fleetReal.idle.length > 0);
  if (realRan) say(`\n${realFleetTable(fleetReal!)}`);
  if (shared) say(`\n${sharedFleetTable(shared)}`);
  if (editPace) say(`\n${editPaceTable(editPace)}`);
  say(`${((Date.now() - t0) / 1000).toFixed(0)} s; wrote ${files.join(', ')}`);
  if (opts.json) {
    const real = realRan ? realFleetSummary(fleetReal!) : {};
    const sharing = shared ? sharedFleetSummary(shared) : {};
    const editing = editPace ? editPaceSummary(editPace) : {};
    console.log(JSON.stringify({ ...r?.summary, ...(fleet ? fleetSummary(fleet) : {}), ...real, ...sharing, ...editing }));
  }
} finally {
  await cluster.stop();
}
