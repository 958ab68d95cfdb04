/**
 * The CLI's side of the one error model (session-runtime/wire/errors.ts): its exit codes, the
 * API client's error, and the common system errors explained in one place.
 */
import { UserError } from '../session-runtime/wire/errors.js';

/** Exit codes, as ssh does it (DESIGN.md "Contracts"). */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  notLoggedIn: 3,
  sessionGone: 4,
  connectionLost: 255,
} as const;

/** Thrown by the API client for a response that carries an ErrorBody. */
export class ApiRequestError extends UserError {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string, options: { hint?: string; exitCode?: number } = {}) {
    super(message, options);
    this.status = status;
    this.code = code;
  }
}

type SystemError = NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };

const SYSTEM_ERRORS: Record<string, (e: SystemError) => UserError> = {
  ENOENT: (e) => new UserError(`No such file or directory${e.path ? `: ${e.path}` : ''}`),
  EACCES: (e) =>
    new UserError(`Permission denied${e.path ? `: ${e.path}` : ''}`, { hint: 'Check the permissions of that path (or of $CATTY_HOME).' }),
  EPERM: (e) => new UserError(`Operation not permitted${e.path ? `: ${e.path}` : ''}`),
  // No hint: what to check depends on what was being reached (the API client adds its own).
  ECONNREFUSED: (e) => new UserError(`Could not connect${e.address ? ` to ${e.address}${e.port ? `:${e.port}` : ''}` : ''}: connection refused`),
  ENOTFOUND: (e) => new UserError(`Host not found${e.hostname ? `: ${e.hostname}` : ''}`),
  ECONNRESET: () => new UserError('The connection was reset by the server.'),
  ETIMEDOUT: () => new UserError('The connection timed out.'),
  ENOSPC: () => new UserError('No space left on device.'),
};

/** Turns a system error (also one wrapped as `cause`, as fetch does) into a UserError. */
export function explainSystemError(error: unknown): UserError | null {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    const explain = code ? SYSTEM_ERRORS[code] : undefined;
    if (explain) return explain(current as SystemError);
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}

export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
