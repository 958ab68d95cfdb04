/**
 * What the scripted model APIs (fake-openai.ts, fake-gemini.ts) share: a loopback server that
 * records every request (route, headers, body) and lets the API's own module answer it.
 */
import http from 'node:http';
import { closeServer, listenLoopback } from './loopback.js';

export interface FakeModel {
  url: string;
  /** `METHOD path` of every request, in order (no query). */
  requests: string[];
  /** The headers of every request, in the same order (what reached the model API). */
  headers: http.IncomingHttpHeaders[];
  bodies: string[];
  close(): Promise<void>;
}

export interface Exchange {
  method: string;
  path: string;
  body: string;
}

export type Answer = { status: number; type: string; body: string };

export async function startFakeModel(answer: (exchange: Exchange) => Answer): Promise<FakeModel> {
  const requests: string[] = [];
  const headers: http.IncomingHttpHeaders[] = [];
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push(`${req.method} ${path}`);
      headers.push(req.headers);
      bodies.push(body);
      const out = answer({ method: req.method ?? '', path, body });
      res.writeHead(out.status, { 'content-type': out.type, 'cache-control': 'no-cache' });
      res.end(out.body);
    });
  });
  const { url } = await listenLoopback(server);
  return { url, requests, headers, bodies, close: () => closeServer(server) };
}

export const json = (status: number, value: unknown): Answer => ({ status, type: 'application/json', body: JSON.stringify(value) });
