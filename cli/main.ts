/**
 * The catty program: commander wiring, one place that maps errors to messages and exit codes.
 * `main(argv)` never exits the process; it returns the exit code (only bin.ts exits).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { createContext, type ContextInput, type GlobalOptions, type Handler, type Runner } from './context.js';
import { ExitCode, explainSystemError } from './errors.js';
import { reportError } from '../session-runtime/wire/errors.js';
import { registerCommands } from './commands/index.js';

const HELP_FOOTER = `
API URL precedence: --api > CATTY_API_URL > saved login (catty login) > the embedded local
control plane (started on demand; see \`catty server\`). Config lives in $CATTY_HOME (~/.catty).

Detach from a session with Ctrl-] (change it with --detach-key, e.g. ctrl-x).

Exit codes (as ssh): once attached, the agent's exit code, or 255 when the connection is lost
for good; before that 1 error, 2 usage, 3 not logged in, 4 session not found or already ended;
0 after a detach.`;

export function findPackageRoot(from: string): string {
  let dir = from;
  for (let i = 0; i < 8; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'cli'))) return dir;
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'dist'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return path.resolve(from, '..', '..');
}

const defaultPackageRoot = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

export async function main(argv: string[], input: ContextInput = {}): Promise<number> {
  // `catty --version` / `-V`: what every CLI answers, the same line as `catty version`.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) argv = ['version'];
  let exitCode: number = ExitCode.ok;
  let debug = argv.includes('--debug');
  const stdout = input.stdout ?? process.stdout;
  const stderr = input.stderr ?? process.stderr;

  const run: Runner = (handler) => async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const globals = command.optsWithGlobals() as Partial<GlobalOptions>;
    const global: GlobalOptions = { api: globals.api, insecure: globals.insecure === true, debug: globals.debug === true };
    debug = global.debug;
    const ctx = createContext(input, global, defaultPackageRoot);
    const code = await (handler as Handler<unknown[]>)(ctx, ...args.slice(0, -1));
    exitCode = typeof code === 'number' ? code : ExitCode.ok;
  };

  const program = new Command('catty')
    .description('Run Claude Code in an isolated, disposable session machine and make it feel local.')
    .option('--api <url>', 'control-plane API URL (overrides CATTY_API_URL and the saved login)')
    .option('--insecure', 'allow a plain-http API URL that is not loopback')
    .option('--debug', 'print stack traces of unexpected errors')
    .option('-V, --version', 'print the version (as `catty version`)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => stdout.write(s),
      writeErr: (s) => stderr.write(s),
    });
  registerCommands(program, run);
  program.addHelpText('after', HELP_FOOTER); // after the examples

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportFailure(error, { stderr, debug });
  }
}

function reportFailure(error: unknown, out: { stderr: NodeJS.WritableStream; debug: boolean }): number {
  if (error instanceof CommanderError) {
    // Commander has printed its own message already.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.ok;
    if (error.code === 'commander.executeSubCommandAsync') return error.exitCode;
    return ExitCode.usage;
  }
  return reportError(error, { program: 'catty', stderr: out.stderr, debug: out.debug, explain: explainSystemError });
}
