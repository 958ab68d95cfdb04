/**
 * Security case 57 (issue 21, item 10, and the refused upload of item 8): what reaches the
 * terminal never carries a character that can mislead its reader, and a refused upload says why.
 * escapeForTerminal is checked class by class; then the built `catty new` uploads a project the
 * real catty-session refuses, directly and through the API's relay: two names that collide once
 * case-folded, each holding a bidi override (refused after the body; the override shown as
 * `\u{202e}`), and a project over the runtime's cap (refused mid-body: the relay closes the
 * connection under the request). The user reads the runtime's reason, never a bare `HTTP 4xx`.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayHttp } from '../../api/relay/http-relay.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { runCli } from '../helpers/cli.js';
import { startRuntime, type RuntimeProcess } from '../helpers/runtime.js';
import { closeServer, listenLoopback } from '../helpers/loopback.js';
import { tempDir } from '../helpers/temp-dir.js';

const hex = (code: number) => code.toString(16);

describe('57: escapeForTerminal escapes every misleading control (issue 21, item 10)', () => {
  const classes: [string, number[]][] = [
    ['C0 controls', Array.from({ length: 0x20 }, (_, i) => i)],
    ['DEL and the C1 controls', Array.from({ length: 0x21 }, (_, i) => 0x7f + i)],
    ['bidi embeddings and overrides U+202A–U+202E', [0x202a, 0x202b, 0x202c, 0x202d, 0x202e]],
    ['bidi isolates U+2066–U+2069', [0x2066, 0x2067, 0x2068, 0x2069]],
    ['zero-width and direction marks U+200B–U+200F', [0x200b, 0x200c, 0x200d, 0x200e, 0x200f]],
    ['line and paragraph separators U+2028, U+2029', [0x2028, 0x2029]],
    ['byte-order mark / zero-width no-break space U+FEFF', [0xfeff]],
    ['Arabic letter mark U+061C', [0x061c]],
    ['Mongolian vowel separator U+180E', [0x180e]],
    ['word joiner U+2060', [0x2060]],
  ];
  for (const [name, codes] of classes) {
    it(`57: ${name}`, () => {
      for (const code of codes) {
        const c = String.fromCharCode(code);
        const escaped = escapeForTerminal(`a${c}b`);
        expect(escaped, hex(code)).toBe(code <= 0xff ? `a\\x${hex(code).padStart(2, '0')}b` : `a\\u{${hex(code)}}b`);
        expect(escaped.includes(c), hex(code)).toBe(false);
      }
    });
  }

  it('57: printable text, other scripts and emoji pass unchanged', () => {
    for (const text of ['plain.txt', 'café', '漢字.md', 'שלום', 'مرحبا', '👩‍💻', 'a\\u{202e}b']) {
      // (ZWJ inside the emoji is escaped: it is one of the zero-width characters.)
      expect(escapeForTerminal(text)).toBe(text.replace('\u200d', '\\u{200d}'));
    }
  });
});

describe('57: catty new prints the runtime’s reason for a refused upload', () => {
  let rt: RuntimeProcess;
  let relay: http.Server;
  let relayUrl: string;
  beforeAll(async () => {
    rt = await startRuntime({ env: { CATTY_MAX_UPLOAD_BYTES: String(1024 * 1024) } });
    // The API's relay (api/relay/http-relay.ts) in front of it, as a deployment has it.
    relay = http.createServer((req, res) => relayHttp(req, res, { runtime: { url: rt.url }, connectToken: rt.token, pathAndQuery: req.url ?? '/' }, pino({ level: 'silent' })));
    relayUrl = (await listenLoopback(relay)).url;
  });
  afterAll(async () => {
    await rt?.stop();
    if (relay) await closeServer(relay);
  });

  async function catttyNew(files: Record<string, string | Buffer>, viaRelay: boolean): Promise<string> {
    const api = await FakeApi.start({ connectUrl: viaRelay ? relayUrl : rt.url, connectToken: rt.token });
    try {
      const dir = tempDir('refused');
      for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data);
      const home = tempDir('refused-home');
      loginTo(home, api);
      const run = await runCli(['new', '--detach'], { home, cwd: dir, env: { CATTY_API_URL: api.url, CATTY_MAX_UPLOAD_MB: '50' } });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toContain('The session refused the upload: ');
      expect(run.stderr).not.toMatch(/HTTP \d{3}/);
      expect(fs.readdirSync(rt.workspace)).toEqual([]);
      return run.stderr;
    } finally {
      await api.close();
    }
  }

  for (const viaRelay of [false, true]) {
    it(`57: a collision refused after the body${viaRelay ? ', through the relay' : ''}: the reason, the override escaped`, async () => {
      const stderr = await catttyNew({ 'Read\u202eme.md': 'one', 'READ\u202eME.md': 'two' }, viaRelay);
      expect(stderr).toMatch(/collides with/);
      expect(stderr).toContain('\\u{202e}');
      expect(stderr).not.toContain('\u202e');
    });
  }

  it('57: refused mid-body (too large) through the relay, which closes the connection under the request: the reason', async () => {
    const stderr = await catttyNew({ 'weights.bin': randomBytes(3 * 1024 * 1024) }, true);
    expect(stderr).toContain('The upload is larger than 1048576 bytes');
  });
});
