/**
 * Connecting to what the policy allowed: the checked addresses in the resolver's order, one at
 * a time, each with a deadline. Only IP literals reach net.connect, so node never looks a name
 * up again. A TLS upstream (an injector's rewrite) is verified against the name, not the address.
 */
import net from 'node:net';
import tls from 'node:tls';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    message: string,
    /** 502: refused or failed; 504: nothing answered in time. */
    readonly status: 502 | 504,
  ) {
    super(message);
  }
}

/** The first of `addresses` that accepts a connection on `port`; `onread`: read into a buffer
 * of the caller's (read-relay.ts) instead of as a stream. */
export async function connectFirst(addresses: readonly string[], port: number, timeoutMs: number, signal: AbortSignal, onread?: net.OnReadOpts): Promise<net.Socket> {
  let last: UpstreamError | undefined;
  for (const address of addresses) {
    if (signal.aborted) break;
    try {
      return await connectOne(address, port, timeoutMs, signal, onread);
    } catch (error) {
      last = error as UpstreamError;
    }
  }
  throw last ?? new UpstreamError('the client went away', 502);
}

function connectOne(address: string, port: number, timeoutMs: number, signal: AbortSignal, onread: net.OnReadOpts | undefined): Promise<net.Socket> {
  if (net.isIP(address) === 0) return Promise.reject(new UpstreamError(`${address} is not an address`, 502));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port, noDelay: true, onread });
    const fail = (error: UpstreamError): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: NodeJS.ErrnoException): void => fail(new UpstreamError(`cannot connect to ${address} port ${port} (${error.code ?? error.message})`, 502));
    const onAbort = (): void => fail(new UpstreamError('the client went away', 502));
    const timer = setTimeout(() => fail(new UpstreamError(`${address} port ${port} did not answer within ${timeoutMs} ms`, 504)), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      cleanup();
      resolve(socket);
    });
  });
}

/** TLS over a connected socket, verified for `servername` (a name, or the IP of an IP target). */
export function startTls(socket: net.Socket, servername: string, ca: string | undefined, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ socket, servername: net.isIP(servername) ? undefined : servername, host: servername, ca, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => fail(new UpstreamError(`TLS with ${servername} did not complete within ${timeoutMs} ms`, 504)), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      secure.destroy();
      reject(error instanceof UpstreamError ? error : new UpstreamError(`TLS with ${servername} failed (${(error as NodeJS.ErrnoException).code ?? error.message})`, 502));
    };
    secure.once('error', fail);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.off('error', fail);
      resolve(secure);
    });
  });
}
