/**
 * SECURITY.md 42, README case 62 (issue 25): the model route of a Codex or a Gemini CLI session.
 * The proxy holds OPENAI_API_KEY / GEMINI_API_KEY and sends it to its agent's API (or the user's
 * base URL) in that agent's header only — `Authorization: Bearer` for Codex, `x-goog-api-key`
 * for Gemini — whatever headers, Host or credentials the agent sends: every client credential
 * header is dropped, none of them can move the key into another header or to another host. In
 * process over the proxy's real Unix socket, a loopback upstream standing for the API.
 */
import path from 'node:path';
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { createEgressProxy, staticResolver, type SessionCredentials } from '../../api/egress/index.js';
import { modelApiOf, parseModelUpstream } from '../../api/egress/injector.js';
import { EGRESS_SOCKET_NAME } from '../../session-runtime/wire/runtime-env.js';
import { onCleanup } from '../helpers/cleanup.js';
import { policy, startUpstream, viaProxy } from '../helpers/egress.js';
import { tempDir } from '../helpers/temp-dir.js';

const OPENAI_KEY = 'sk-proj-REAL-openai-key-held-by-the-proxy-62';
const GEMINI_KEY = 'AIza-REAL-gemini-key-held-by-the-proxy-62';
const PLACEHOLDER = 'catty-placeholder-the-egress-proxy-adds-the-real-credential';

async function session(credentials: SessionCredentials): Promise<string> {
  const proxy = createEgressProxy({ resolver: staticResolver({}) });
  onCleanup(() => proxy.closeAll());
  const socketPath = path.join(tempDir('egress-agent'), 's1', EGRESS_SOCKET_NAME);
  await proxy.open('s1', socketPath, policy('none'), credentials);
  return socketPath;
}

/** Every credential header a hostile agent could send, each with a value of its choosing. */
const EVERY_CREDENTIAL_HEADER: http.OutgoingHttpHeaders = {
  authorization: `Bearer ${PLACEHOLDER}`,
  'x-api-key': 'agent-chosen-x-api-key',
  'x-goog-api-key': 'agent-chosen-goog-key',
  host: 'evil.test',
};

describe('62: a Codex or Gemini session\'s key goes to its own API, in its own header, and nowhere else', () => {
  it('Codex: the real OPENAI_API_KEY as Authorization: Bearer at the upstream; the agent\'s other credential headers and Host are dropped', async () => {
    const upstream = await startUpstream();
    const socketPath = await session({ model: { agent: 'codex', apiKey: OPENAI_KEY, baseUrl: `http://127.0.0.1:${upstream.port}/v1` }, inject: [] });
    const answer = await viaProxy(socketPath, '/responses', { method: 'POST', body: '{"model":"m"}', headers: { 'content-type': 'application/json', ...EVERY_CREDENTIAL_HEADER } });
    expect(answer).toMatchObject({ status: 200, body: 'hello from /v1/responses' });
    const seen = upstream.seen[0]!.headers;
    expect(seen.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(seen['x-api-key']).toBeUndefined();
    expect(seen['x-goog-api-key']).toBeUndefined();
    expect(seen.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(JSON.stringify(seen)).not.toMatch(/placeholder|agent-chosen/);
  });

  it('Gemini: the real key as x-goog-api-key even when the agent sends only Authorization — it cannot have it sent as a bearer token', async () => {
    const upstream = await startUpstream();
    const socketPath = await session({ model: { agent: 'gemini', apiKey: GEMINI_KEY, baseUrl: `http://127.0.0.1:${upstream.port}` }, inject: [] });
    for (const headers of [EVERY_CREDENTIAL_HEADER, { authorization: `Bearer ${PLACEHOLDER}` }]) {
      const answer = await viaProxy(socketPath, '/v1beta/models/m:streamGenerateContent?alt=sse', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...headers } });
      expect(answer).toMatchObject({ status: 200, body: 'hello from /v1beta/models/m:streamGenerateContent?alt=sse' });
      const seen = upstream.seen.at(-1)!.headers;
      expect(seen['x-goog-api-key']).toBe(GEMINI_KEY);
      expect(seen.authorization).toBeUndefined();
      expect(seen['x-api-key']).toBeUndefined();
      expect(JSON.stringify(seen)).not.toMatch(/placeholder|agent-chosen/);
    }
    expect(upstream.seen).toHaveLength(2);
  });

  it('Gemini with GOOGLE_API_KEY: the same header; a session holding both sends GEMINI_API_KEY', async () => {
    const upstream = await startUpstream();
    const socketPath = await session({ model: { agent: 'gemini', apiKey: GEMINI_KEY, authToken: 'AIza-the-google-one', baseUrl: `http://127.0.0.1:${upstream.port}` }, inject: [] });
    await viaProxy(socketPath, '/v1beta/models/m:generateContent', { method: 'POST', body: '{}', headers: { 'x-goog-api-key': PLACEHOLDER } });
    expect(upstream.seen[0]!.headers['x-goog-api-key']).toBe(GEMINI_KEY);
    const only = await session({ model: { agent: 'gemini', authToken: 'AIza-the-google-one', baseUrl: `http://127.0.0.1:${upstream.port}` }, inject: [] });
    await viaProxy(only, '/v1beta/models/m:generateContent', { method: 'POST', body: '{}', headers: { 'x-goog-api-key': PLACEHOLDER } });
    expect(upstream.seen[1]!.headers['x-goog-api-key']).toBe('AIza-the-google-one');
  });

  it('without the user\'s base URL each agent\'s key goes to its own API over TLS: api.openai.com, generativelanguage.googleapis.com — never Anthropic\'s', () => {
    expect(parseModelUpstream(undefined, modelApiOf({ agent: 'codex' }).defaultUrl)).toEqual({ host: 'api.openai.com', port: 443, tls: true, pathPrefix: '/v1' });
    expect(parseModelUpstream(undefined, modelApiOf({ agent: 'gemini' }).defaultUrl)).toEqual({ host: 'generativelanguage.googleapis.com', port: 443, tls: true, pathPrefix: '' });
    expect(parseModelUpstream(undefined, modelApiOf({}).defaultUrl)).toMatchObject({ host: 'api.anthropic.com', tls: true });
  });

  it('plain HTTP carries an OpenAI key only to loopback: a gateway elsewhere over http:// gets nothing', async () => {
    const proxy = createEgressProxy({ resolver: staticResolver({ 'lan.test': ['10.0.0.7'] }) });
    onCleanup(() => proxy.closeAll());
    const socketPath = path.join(tempDir('egress-agent'), 's2', EGRESS_SOCKET_NAME);
    await proxy.open('s2', socketPath, policy('full'), { model: { agent: 'codex', apiKey: OPENAI_KEY, baseUrl: 'http://lan.test:8080/v1' }, inject: [] });
    const answer = await viaProxy(socketPath, '/responses', { method: 'POST', body: '{}', headers: { authorization: `Bearer ${PLACEHOLDER}` } });
    expect(answer.status).toBe(502);
    expect(answer.body).toContain('use https:// in OPENAI_BASE_URL');
  });
});
