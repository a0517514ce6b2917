// CPU time of processes we do not run in-process (a worker child, Postgres backends), read
// from /proc (Linux). Values are milliseconds of user+system time.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticks: number | undefined;
function msPerTick(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return 1000 / ticks;
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]. */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * utime+stime of a process; with `reaped`, plus what its exited children used (cutime+cstime),
 * so backends that came and went between two readings are not lost.
 */
export function processCpuMs(pid: number, reaped = false): number | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  // stat fields 14..17 (1-based) are utime stime cutime cstime; f[0] is field 3.
  const [ut, st, cut, cst] = [f[11], f[12], f[13], f[14]].map(Number) as [number, number, number, number];
  return (ut + st + (reaped ? cut + cst : 0)) * msPerTick();
}

/** The postmaster, its exited children and its live children (every backend). */
export function postgresCpuMs(postmasterPid: number): number | undefined {
  const own = processCpuMs(postmasterPid, true);
  if (own === undefined) return undefined;
  let total = own;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[1]) === postmasterPid) total += processCpuMs(Number(name)) ?? 0;
  }
  return total;
}

/** Milliseconds of CPU this process used (all threads). */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
