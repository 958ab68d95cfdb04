/**
 * The runtime's own requests out of its machine: API callbacks and snapshot PUTs. Straight to
 * their host, or — in a machine with a network namespace of its own (issue 20), where nothing
 * of the host is reachable over TCP — through the host's socket bound into the machine
 * (CATTY_CALLBACK_SOCKET), asked as a proxy is asked: plain HTTP in absolute form, HTTPS through
 * a CONNECT tunnel with TLS end to end. The host side admits only the API's runtime routes and
 * the snapshot uploads it presigned (api/node/callback-gateway.ts).
 *
 * node:http(s) only, never the global fetch: the first fetch loads undici, ~20 MB of resident
 * memory (see callbacks.ts).
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';

/** Like `http(s).request(url, options, onResponse)`, by whichever route this runtime has. */
export type Outbound = (url: URL, options: https.RequestOptions, onResponse?: (res: http.IncomingMessage) => void) => http.ClientRequest;

const defaultPort = (url: URL): number => Number(url.port || (url.protocol === 'https:' ? 443 : 80));

/** Straight to the URL's host. */
export const direct: Outbound = (url, options, onResponse) => (url.protocol === 'https:' ? https : http).request(url, options, onResponse);

/** Through the host's socket at `socketPath` (inside the machine). */
export function viaSocket(socketPath: string): Outbound {
  return (url, options, onResponse) => {
    const hostHeader = url.host;
    if (url.protocol === 'http:') {
      // Absolute form: the host side sees where the request goes, and forwards it or refuses it.
      return http.request({ ...options, socketPath, path: url.href, headers: { ...options.headers, host: hostHeader } }, onResponse);
    }
    const createConnection = (opts: tls.ConnectionOptions, done: (err: Error | null, socket?: Socket) => void): undefined => {
      const target = `${url.hostname.replace(/^\[|\]$/g, '')}:${defaultPort(url)}`;
      const connect = http.request({ socketPath, method: 'CONNECT', path: target, headers: { host: target } });
      connect.once('connect', (res, socket) => {
        if (res.statusCode !== 200) {
          socket.destroy();
          return done(new Error(`the machine's route refused ${target} (${res.statusCode})`));
        }
        // TLS end to end, verified as a direct request would be (its ca, if it named one).
        const host = url.hostname.replace(/^\[|\]$/g, '');
        // (SNI carries names only; the certificate is checked against `host` either way.)
        done(null, tls.connect({ ca: opts.ca, rejectUnauthorized: opts.rejectUnauthorized, socket, host, ...(isIP(host) ? {} : { servername: host }) }));
      });
      connect.once('error', (err) => done(err));
      connect.end();
      return undefined;
    };
    // No agent: each request gets its own tunnel from createConnection.
    return https.request(url, { ...options, agent: undefined, createConnection: createConnection as unknown as https.RequestOptions['createConnection'] }, onResponse);
  };
}

export const outboundFor = (callbackSocket: string | null): Outbound => (callbackSocket ? viaSocket(callbackSocket) : direct);
