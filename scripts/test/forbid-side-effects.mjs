// Loaded with `node --import` (through NODE_OPTIONS) by scripts/help.test.ts: in a process of this
// repository (not npm's own), starting a child process, listening on a port or opening a
// connection ends the process at once with exit code 97 and says what it tried. `--help` must do
// none of these, so a command that starts Postgres, Deno or a server before reading its flags fails.
// Plain JavaScript: npm's own Node (any version) loads it too, and there it does nothing.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { resolve, sep } from 'node:path';

const root = process.env.FORBID_SIDE_EFFECTS_ROOT ? resolve(process.env.FORBID_SIDE_EFFECTS_ROOT) : null;
const entry = process.argv[1] ? resolve(process.argv[1]) : '';
const ours = root !== null && entry.startsWith(root + sep) && !entry.includes(`${sep}npm${sep}`);

function forbid(what) {
  return function () {
    process.stderr.write(`FORBIDDEN during --help: ${what} (${entry})\n`);
    process.exit(97);
  };
}

if (ours) {
  childProcess.ChildProcess.prototype.spawn = forbid('a child process');
  for (const f of ['spawnSync', 'execSync', 'execFileSync']) childProcess[f] = forbid(`a child process (${f})`);
  net.Server.prototype.listen = forbid('listening on a port');
  net.Socket.prototype.connect = forbid('a network connection');
  syncBuiltinESMExports();
}
