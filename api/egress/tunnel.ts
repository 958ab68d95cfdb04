/**
 * CONNECT: an opaque tunnel to an allowed `host:port` (HTTPS, and anything else the policy
 * allows on that port). The Host header of a CONNECT is ignored: the target is the authority
 * in the request line, and that is what is judged and connected to. Nothing is added to a
 * tunnel: a host:port with `--inject` rules is not tunnelled but ended here (intercept.ts).
 *
 * Bytes flow so that a slow side pauses the other, whatever the rates: upstream to client (the
 * download, P10's 100 MB) through read-relay.ts, reads into one buffer of the tunnel's own; client
 * to upstream with pipe() (node's server made the client socket, so it reads as a stream). A
 * tunnel silent both ways for idleTimeoutMs is closed.
 */
import type http from 'node:http';
import type net from 'node:net';
import { admit } from './admit.js';
import type { SessionContext } from './context.js';
import { injectedHeaders } from './injector.js';
import { interceptTunnel } from './intercept.js';
import { answerSocket } from './responses.js';
import { createReadRelay } from './read-relay.js';
import { parseConnectTarget } from './target.js';
import { connectFirst, UpstreamError } from './upstream.js';

export async function openTunnel(ctx: SessionContext, req: http.IncomingMessage, client: net.Socket, head: Buffer): Promise<void> {
  // Until the tunnel is up the client side is ours to answer on; errors end it quietly.
  client.on('error', () => client.destroy());
  const target = parseConnectTarget(req.url ?? '');
  if ('problem' in target) return answerSocket(client, 400, `catty: egress: ${target.problem}\n`);

  const gone = new AbortController();
  const onGone = (): void => gone.abort();
  client.once('close', onGone);
  // A CONNECT that waits (lookup, connect) still counts as idle time on its socket.
  client.setTimeout(ctx.limits.idleTimeoutMs, () => client.destroy());

  const admission = await admit(ctx, 'CONNECT', target.host, target.port);
  if (!admission.ok) return answerSocket(client, admission.status, admission.body);
  const { allowed } = admission;
  const injected = injectedHeaders(ctx.credentials?.inject ?? [], allowed.host.host, allowed.port);
  if (ctx.ca && Object.keys(injected).length > 0) {
    client.off('close', onGone);
    client.setTimeout(0);
    return interceptTunnel(ctx, ctx.ca, client, head, allowed, injected);
  }

  const download = createReadRelay(ctx.limits.relayBufferBytes);
  let upstream: net.Socket;
  try {
    upstream = await connectFirst(allowed.addresses, allowed.port, ctx.limits.connectTimeoutMs, gone.signal, download.onread);
  } catch (error) {
    download.release();
    const status = error instanceof UpstreamError ? error.status : 502;
    return answerSocket(client, status, `catty: egress: ${(error as Error).message}\n`);
  }
  client.off('close', onGone);
  if (client.destroyed) {
    download.release();
    return void upstream.destroy();
  }

  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  const untrack = ctx.track({ method: 'CONNECT', host: allowed.host, port: allowed.port, addresses: allowed.addresses, close });
  upstream.on('error', close);
  client.on('error', close);
  // A side that closed cleanly has been read to its end and piped on: the other side gets an
  // end() (its buffered bytes still go out), not a destroy. Only a client that is gone entirely
  // takes the upstream with it: nothing could be delivered any more.
  upstream.once('close', (hadError) => {
    untrack();
    if (hadError) client.destroy();
    else client.end();
  });
  client.once('close', () => {
    untrack();
    upstream.destroy();
  });
  // Activity either way touches the upstream socket (reads from it, writes to it), so one
  // deadline on it means "no byte in either direction for idleTimeoutMs".
  client.setTimeout(0);
  upstream.setTimeout(ctx.limits.idleTimeoutMs, close);

  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) upstream.write(head);
  client.pipe(upstream);
  download.start(upstream, client);
}
