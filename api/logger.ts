/** pino, to stderr or a file, with every credential-shaped field redacted. */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'cookie',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'device_code',
  'connectToken',
  'machineToken',
  'secrets',
  'secretAccessKey',
  '*.password',
  '*.token',
  '*.connectToken',
  '*.machineToken',
  '*.secrets',
  '*.secretAccessKey',
  '*.access_token',
  '*.refresh_token',
];

export function createLogger(options: { level: string; file: string | null }): Logger {
  const destination = options.file ? pino.destination({ dest: options.file, mkdir: true, sync: false }) : pino.destination(2);
  return pino({ level: options.level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } }, destination);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
