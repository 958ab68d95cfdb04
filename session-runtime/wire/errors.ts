/**
 * One error model for every catty program and server (STYLE.md "One error model"):
 * - {@link ErrorBody}: every HTTP error from the API and the runtime has this JSON shape;
 * - {@link UserError}: the user's or operator's mistake, or a state they can fix — message, hint
 *   (one line each), lines of details, and an exit code of its own, printed without a stack;
 * - {@link reportError}: the one printer both binaries (`catty`, `catty-api`) use.
 */
import * as z from './zod.js';
import { escapeForTerminal } from './safe-path.js';

export const ErrorBody = z.object({
  error: z.object({
    /** Machine-readable, e.g. `invalid_request`, `unauthorized`, `not_found`, `limit_reached`. */
    code: z.string(),
    /** One line for a human. Never an internal detail on a 500. */
    message: z.string(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** Exit code of any error that says nothing more specific. */
export const EXIT_ERROR = 1;
/** Exit code of a command line or configuration the program cannot use. */
export const EXIT_USAGE = 2;

export interface UserErrorOptions {
  hint?: string;
  exitCode?: number;
  cause?: unknown;
  /** Lines shown under the message (a table, a list of files). The message and the hint are one
   * line each; a multi-line error puts its further lines here, so the printer knows which line
   * breaks are ours: a newline inside any of them — say in a hostile file name — is escaped. */
  details?: readonly string[];
}

export class UserError extends Error {
  override readonly name: string = 'UserError';
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly details: readonly string[];

  constructor(message: string, options: UserErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT_ERROR;
    this.details = options.details ?? [];
  }
}

export interface ReportOptions {
  /** The program's name, the prefix of every line (`catty`, `catty-api`). */
  program: string;
  stderr: { write(text: string): unknown };
  /** Print stacks of unexpected errors (and of a user error's cause). */
  debug: boolean;
  /** Turns a system error (ENOENT, ECONNREFUSED, …) into a UserError, where the program can. */
  explain?: (error: unknown) => UserError | null;
}

const DETAIL_INDENT = '    ';

/** Prints an error once, as its kind asks, and returns the exit code it stands for. */
export function reportError(error: unknown, out: ReportOptions): number {
  const userError = error instanceof UserError ? error : (out.explain?.(error) ?? null);
  if (userError) {
    out.stderr.write(`${out.program}: ${escapeForTerminal(userError.message)}\n`);
    for (const line of userError.details) out.stderr.write(`${DETAIL_INDENT}${escapeForTerminal(line)}\n`);
    if (userError.hint) out.stderr.write(`  ${escapeForTerminal(userError.hint)}\n`);
    if (out.debug && userError.cause instanceof Error && userError.cause.stack) out.stderr.write(`${userError.cause.stack}\n`);
    return userError.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  out.stderr.write(`${out.program}: unexpected error: ${escapeForTerminal(message)}\n`);
  if (out.debug && error instanceof Error && error.stack) out.stderr.write(`${error.stack}\n`);
  else out.stderr.write('  Run again with --debug for details.\n');
  return EXIT_ERROR;
}
