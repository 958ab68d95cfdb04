/** Small helpers for the Docker provisioner: Docker error codes, bounded polling, log frames. */

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error
    ? (error as { statusCode?: number }).statusCode
    : undefined;
}

/** 404: the container or volume is already gone. */
export const isNotFound = (error: unknown): boolean => statusOf(error) === 404;
/** 304: already stopped (container stop). */
export const isNotModified = (error: unknown): boolean => statusOf(error) === 304;
/** 409: conflict, e.g. a volume still in use while its container is being removed. */
export const isConflict = (error: unknown): boolean => statusOf(error) === 409;

/** Polls `check` every `intervalMs` until it returns a value, `timeoutMs` passes, or `signal`
 * aborts. */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs: number; what: string; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

/** Text of a non-TTY container log buffer: frames of an 8-byte header (stream, 0, 0, 0,
 * big-endian length) followed by that many bytes. */
export function demuxLogs(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const length = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  return Buffer.concat(parts).toString('utf8');
}
