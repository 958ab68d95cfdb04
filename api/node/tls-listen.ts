/**
 * Cluster mode's listener: HTTPS with mutual TLS, serving only the API. The node presents its
 * certificate (node.pem: its addresses in the SAN, for serverAuth); a client must present one
 * signed by the cluster's CA (ca.pem) — the kernel-level equivalent of the host node's 0600
 * socket — and it must be the API's: subject CN `catty-api` and extended key usage clientAuth.
 * A node's own certificate (CN catty-node, serverAuth only) is refused, so a compromised node
 * cannot drive the others. Refused connections are cut during or right after the handshake,
 * before any request is read.
 */
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type tls from 'node:tls';
import type { EndpointTls } from '../../session-runtime/wire/runtime-address.js';
import type { Logger } from '../logger.js';
import { API_CLIENT_CN } from './contract.js';

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/** What `catty-node --tls-dir DIR` reads (`catty-node certs` writes it). */
export const NODE_TLS_FILES = { ca: 'ca.pem', cert: 'node.pem', key: 'node-key.pem' } as const;

export function loadNodeTls(dir: string): EndpointTls {
  const read = (name: string): string => {
    try {
      return fs.readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${join(dir, name)} (${(err as NodeJS.ErrnoException).code ?? String(err)}): --tls-dir (CATTY_NODE_TLS_DIR) must hold ca.pem, node.pem and node-key.pem (catty-node certs --node ADDR)`);
    }
  };
  return { ca: read(NODE_TLS_FILES.ca), cert: read(NODE_TLS_FILES.cert), key: read(NODE_TLS_FILES.key) };
}

/** Why this peer is not the API, or null when it is. */
export function notTheApi(socket: tls.TLSSocket): string | null {
  if (!socket.authorized) return `its certificate is not the cluster CA's (${String(socket.authorizationError ?? 'none presented')})`;
  const peer = socket.getPeerCertificate();
  const cn = peer?.subject?.CN;
  if (cn !== API_CLIENT_CN) return `its certificate names ${JSON.stringify(cn ?? '')}, not ${API_CLIENT_CN}`;
  if (!(peer.ext_key_usage ?? []).includes(CLIENT_AUTH_OID)) return 'its certificate is not for client authentication';
  return null;
}

/** An HTTPS server that keeps every connection but the API's out. */
export function createTlsServer(material: EndpointTls, logger: Logger): https.Server {
  const server = https.createServer({
    ca: material.ca,
    cert: material.cert,
    key: material.key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    // The runtime proxy carries uploads and terminals: no deadline on a whole request, only on
    // its headers (and idle sockets: below).
    requestTimeout: 0,
    headersTimeout: 10_000,
    maxHeaderSize: 16 * 1024,
    // The API keeps connections for 30 s (client.ts KEPT_IDLE_MS): longer here, so it closes them.
    keepAliveTimeout: 60_000,
  });
  server.setTimeout(5 * 60_000);
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    const why = notTheApi(socket);
    if (!why) return;
    logger.warn({ remote: socket.remoteAddress, why }, 'refused a client that is not the API');
    socket.destroy();
  });
  server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    logger.info({ remote: socket.remoteAddress, err: err.message }, 'a TLS handshake failed');
  });
  return server as https.Server & http.Server;
}
