// What every command does with its flags: --help (or -h) prints the usage and exits 0; a flag it
// does not know is an error that names it, before anything starts.

export function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** parseArgs' errors, shortened to what the user typed ("unknown option '--bogus'"). */
export function flagError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const unknown = /^Unknown option '([^']+)'/.exec(msg);
  if (unknown) return `unknown option '${unknown[1]}'`;
  const positional = /^Unexpected argument '([^']+)'/.exec(msg);
  if (positional) return `unexpected argument '${positional[1]}'`;
  return msg;
}

/**
 * Handles --help and bad flags for `command` (as the user types it, e.g. "npm start"): returns
 * true when the command should go on; otherwise it has printed the usage (exit code 0) or the
 * error and a pointer to --help (exit code 2).
 */
export function checkFlags(command: string, usage: string, argv: string[], parse: (argv: string[]) => unknown): boolean {
  if (wantsHelp(argv)) {
    console.log(usage);
    return false;
  }
  try {
    parse(argv);
    return true;
  } catch (err) {
    console.error(`${command}: ${flagError(err)}\nRun \`${command} -- --help\` for the options.`);
    process.exitCode = 2;
    return false;
  }
}
