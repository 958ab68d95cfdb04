/**
 * Errors. `HttpError` knows its own JSON response ({error:{code,message}}); anything else that
 * reaches the error handler is a 500 whose message never leaves the process. The operator's
 * mistakes on the command line are the shared `UserError` (session-runtime/wire/errors.ts).
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { EXIT_USAGE, UserError } from '../session-runtime/wire/errors.js';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, 'invalid_request', message);
export const unauthorized = (message = 'missing, invalid or expired token'): HttpError => new HttpError(401, 'unauthorized', message);
export const notFound = (message = 'not found'): HttpError => new HttpError(404, 'not_found', message);
export const conflict = (code: string, message: string): HttpError => new HttpError(409, code, message);

/** The operator's command line, configuration or input is wrong: a UserError, exit 2. */
export const usageError = (message: string, hint?: string): UserError => new UserError(message, { hint, exitCode: EXIT_USAGE });
