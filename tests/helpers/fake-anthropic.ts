/**
 * A scripted stand-in for the Anthropic Messages API on 127.0.0.1:0, so real Claude Code can be
 * driven without a network (ANTHROPIC_BASE_URL = its url, ANTHROPIC_API_KEY any string). `POST
 * /v1/messages` answers each request with one short text — streamed as server-sent events when
 * the request asks for a stream (the conversation), else as one JSON message; everything else
 * Claude Code calls (`HEAD /` at start) gets a 404, which it takes as "not offered here".
 */
import http from 'node:http';
import { closeServer, listenLoopback } from './loopback.js';

export interface FakeAnthropic {
  url: string;
  /** `METHOD path` of every request, in order. */
  requests: string[];
  /** The headers of every request, in the same order (what reached the model API). */
  headers: http.IncomingHttpHeaders[];
  /** The body of every request, in the same order (a resumed conversation's earlier turns). */
  bodies: string[];
  close(): Promise<void>;
}

function sse(event: string, data: object): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function streamedReply(model: string, text: string): string {
  const usage = { input_tokens: 12, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  return [
    sse('message_start', { type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage } }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 8 } }),
    sse('message_stop', { type: 'message_stop' }),
  ].join('');
}

/** `reply(n)`: the text the n-th /v1/messages request gets (from 1). */
export async function startFakeAnthropic(reply: (n: number) => string): Promise<FakeAnthropic> {
  const requests: string[] = [];
  const headers: http.IncomingHttpHeaders[] = [];
  const bodies: string[] = [];
  let messages = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const route = `${req.method} ${(req.url ?? '').split('?')[0]}`;
      requests.push(route);
      headers.push(req.headers);
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      if (route !== 'POST /v1/messages') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not offered by the fake' } }));
        return;
      }
      const text = reply(++messages);
      let body: { model?: string; stream?: boolean } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        // Answer anyway: the reply does not depend on the request.
      }
      const model = body.model ?? 'claude-fake';
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.end(streamedReply(model, text));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'msg_fake', type: 'message', role: 'assistant', model, content: [{ type: 'text', text }],
        stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 12, output_tokens: 8 },
      }));
    });
  });
  const { url } = await listenLoopback(server);
  return { url, requests, headers, bodies, close: () => closeServer(server) };
}
