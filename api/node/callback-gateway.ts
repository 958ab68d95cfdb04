/**
 * The host's end of a sandboxed machine's own route out. The machine has a network namespace of
 * its own (issue 20): nothing of the host answers it over TCP, so its runtime's callbacks to the
 * API and its snapshot PUTs leave through this Unix socket in the machine's run directory
 * (MACHINE_CALLBACK_SOCKET inside), asked as a proxy is asked (session-runtime/outbound.ts).
 * Admitted, and nothing else:
 * - plain HTTP to the API the machine was started with, its `/v1/runtime/` routes only (each
 *   authenticated there by the machine token);
 * - a PUT to exactly a URL the API presigned for this machine — read from the presign answer as
 *   it passes through here — once, while fresh; for an HTTPS endpoint, a CONNECT to that URL's
 *   host and port while such a URL is fresh (TLS hides the path; the storage checks signatures).
 * Everything else is answered 403. The agent shares the machine and may ask too: it gets what a
 * machine token gets (it needs one), and can at most overwrite its own session's next snapshot
 * upload — it can neither list, read nor delete what storage holds, nor reach anything else.
 */
import { chmodSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { routes } from '../contract/routes.js';
import { PresignResponse } from '../contract/schemas.js';
import type { ErrorBody } from '../../session-runtime/wire/errors.js';
import type { Logger } from '../logger.js';

const RUNTIME_ROUTES = '/v1/runtime/';
/** A presigned URL is admitted this long (the API's URLs live 15 minutes). */
const MINTED_TTL_MS = 20 * 60_000;
/** Presigned URLs remembered at once (the runtime asks one per snapshot attempt). */
const MAX_MINTED = 16;
/** A presign answer is a small JSON object. */
const MAX_PRESIGN_ANSWER_BYTES = 64 * 1024;
/** Connections at once: a runtime needs a few; more are dropped. */
const MAX_CONNECTIONS = 32;
/** A connection silent this long either way is closed (the runtime's own storage timeout is 60 s). */
const IDLE_TIMEOUT_MS = 2 * 60_000;
/** Request headers not passed on: this hop's own. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface CallbackGateway {
  close(): Promise<void>;
}

function refuse(res: http.ServerResponse, status: number, message: string): void {
  const body: ErrorBody = { error: { code: status === 403 ? 'not_allowed' : 'invalid_request', message } };
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}

/** `host:port` of a URL, the port spelled out (CONNECT's form). */
const hostPort = (url: URL): string => `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;

/** Listens at `socketPath` (its directory: the machine's, 0700) for the machine started with `apiUrl`. */
export async function openCallbackGateway(socketPath: string, apiUrl: string, logger: Logger): Promise<CallbackGateway> {
  const api = new URL(apiUrl);
  const apiBase = api.pathname.replace(/\/+$/, '');
  /** Presigned PUT URLs (href) → when they stop being admitted. */
  const minted = new Map<string, number>();

  const fresh = (): Array<[string, number]> => {
    const now = Date.now();
    for (const [href, until] of minted) if (until <= now) minted.delete(href);
    return [...minted];
  };
  const learn = (body: Buffer): void => {
    try {
      const parsed = PresignResponse.safeParse(JSON.parse(body.toString('utf8')));
      if (!parsed.success) return;
      const href = new URL(parsed.data.url).href;
      if (fresh().length >= MAX_MINTED) minted.delete(minted.keys().next().value!);
      minted.set(href, Date.now() + MINTED_TTL_MS);
    } catch {
      // not JSON, or no URL: nothing admitted
    }
  };

  function forward(req: http.IncomingMessage, res: http.ServerResponse, target: URL, isPresign: boolean): void {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
    headers.host = target.host;
    const upstream = http.request(target, { method: req.method, headers }, (up) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
      if (!isPresign || up.statusCode !== 200) {
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
        return;
      }
      // The presign answer is read whole (it is small) to admit the URL it names, then passed on.
      const chunks: Buffer[] = [];
      let size = 0;
      up.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_PRESIGN_ANSWER_BYTES) return void up.destroy(new Error('presign answer too large'));
        chunks.push(chunk);
      });
      up.on('end', () => {
        const body = Buffer.concat(chunks);
        learn(body);
        res.writeHead(200, { ...out, 'content-length': body.length });
        res.end(body);
      });
      up.on('error', () => res.destroy());
    });
    upstream.on('error', (err) => {
      logger.warn({ err, target: `${target.origin}${target.pathname}` }, 'callback gateway: the upstream did not answer');
      if (res.headersSent) res.destroy();
      else refuse(res, 502, `${target.host} did not answer`);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  const server = http.createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      return refuse(res, 400, 'ask in absolute form (http://host/path): this is the machine’s route out, a proxy');
    }
    const toApi = target.protocol === 'http:' && target.origin === api.origin && target.pathname.startsWith(`${apiBase}${RUNTIME_ROUTES}`);
    const until = minted.get(target.href);
    const toStorage = !toApi && req.method === 'PUT' && until !== undefined && until > Date.now();
    if (!toApi && !toStorage) {
      logger.info({ method: req.method, host: target.host }, 'callback gateway: refused');
      req.resume();
      return refuse(res, 403, `${req.method} ${target.origin}${target.pathname}: the machine’s route out reaches only the API’s runtime routes and the snapshot uploads it presigned`);
    }
    if (toStorage) minted.delete(target.href);
    forward(req, res, target, toApi && req.method === 'POST' && target.pathname === `${apiBase}${routes.presign.path}`);
  });

  /** Open tunnels: the server no longer tracks them, so close() ends them itself. */
  const tunnels = new Set<net.Socket>();
  // HTTPS storage: a tunnel to the host and port of a fresh presigned https URL, nothing else.
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    client.on('error', () => undefined);
    tunnels.add(client);
    client.once('close', () => tunnels.delete(client));
    const wanted = req.url ?? '';
    const admitted = fresh().some(([href]) => {
      const url = new URL(href);
      return url.protocol === 'https:' && hostPort(url) === wanted;
    });
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(wanted);
    if (!admitted || !match) {
      logger.info({ target: wanted }, 'callback gateway: refused a tunnel');
      return void client.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
    const upstream = net.connect(Number(match[2]), match[1]!.replace(/^\[|\]$/g, ''));
    upstream.setTimeout(IDLE_TIMEOUT_MS, () => upstream.destroy());
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });

  server.maxConnections = MAX_CONNECTIONS;
  server.headersTimeout = 10_000;
  // A snapshot PUT of a big workspace to a slow store takes what it takes; silence is bounded.
  server.requestTimeout = 0;
  server.setTimeout(IDLE_TIMEOUT_MS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const tunnel of tunnels) tunnel.destroy();
      }),
  };
}
