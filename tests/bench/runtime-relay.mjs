// Measures the session runtime's relay against a local node-pty baseline in the same run:
// keystroke echo latency (P2), output throughput (P1), resume replay, and runtime RSS with a
// stalled reader. Usage: npm run build && node tests/bench/runtime-relay.mjs
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pty from 'node-pty';
import WebSocket from 'ws';
import { startBareRuntime } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const echoAgent = path.join(root, 'tests/fixtures/agents/echo.mjs');
const floodAgent = path.join(root, 'tests/fixtures/agents/flood.mjs');
const SAMPLES = 1000;

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const startRuntime = (argv, extraEnv = {}) => startBareRuntime(argv, { env: { CATTY_NO_UPLOAD: '1', ...extraEnv } });

function connect(rt, query = '') {
  const ws = new WebSocket(`${rt.url.replace('http', 'ws')}/connect${query}`, { headers: { authorization: `Bearer ${rt.token}` } });
  return new Promise((resolve) => ws.once('open', () => resolve(ws)));
}

async function echoSamples(send, onByte) {
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) {
    const ch = String.fromCharCode(97 + (i % 26));
    const t0 = process.hrtime.bigint();
    const got = onByte(ch);
    send(ch);
    await got;
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return samples;
}

function waiter() {
  let pending = null;
  return {
    expect(ch) {
      return new Promise((resolve) => (pending = { ch, resolve }));
    },
    feed(text) {
      if (pending && text.includes(pending.ch)) {
        const p = pending;
        pending = null;
        p.resolve();
      }
    },
  };
}

async function echoBaseline() {
  const p = pty.spawn(process.execPath, [echoAgent], { cols: 80, rows: 24, env: { PATH: process.env.PATH, TERM: 'xterm-256color' } });
  const w = waiter();
  let ready = false;
  p.onData((d) => { if (d.includes('READY')) ready = true; w.feed(d); });
  while (!ready) await sleep(10);
  const s = await echoSamples((c) => p.write(c), (c) => w.expect(c));
  p.kill();
  return s;
}

async function echoRelay() {
  const rt = await startRuntime([process.execPath, echoAgent]);
  const ws = await connect(rt);
  const w = waiter();
  let ready = false;
  ws.on('message', (d, bin) => { if (!bin) return; const t = d.toString(); if (t.includes('READY')) ready = true; w.feed(t); });
  while (!ready) await sleep(10);
  const s = await echoSamples((c) => ws.send(Buffer.from(c)), (c) => w.expect(c));
  ws.close();
  await rt.stop();
  return s;
}

/** P1: `cat` of a 100 MB text file, in a local node-pty vs through the relay (median of 3). */
async function throughput() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-bench-cat-'));
  const file = path.join(dir, 'big.txt');
  const line = 'the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefg\n';
  fs.writeFileSync(file, line.repeat(Math.ceil(100e6 / line.length)));
  const runs = { base: [], relay: [] };
  let expected = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    expected = await new Promise((resolve) => {
      let n = 0;
      const p = pty.spawn('cat', [file], { cols: 80, rows: 24, env: { PATH: process.env.PATH }, encoding: null });
      p.onData((d) => { n += d.length; });
      p.onExit(() => setTimeout(() => resolve(n), 50));
    });
    runs.base.push(expected / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9));
    const rt = await startRuntime(['cat', file]);
    const t1 = process.hrtime.bigint();
    const ws = await connect(rt);
    let n = 0;
    await new Promise((resolve) => {
      ws.on('message', (d, bin) => { if (bin) n += d.length; });
      ws.on('close', resolve);
    });
    runs.relay.push(n / 1e6 / (Number(process.hrtime.bigint() - t1) / 1e9));
    await rt.stop();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { baseMBs: pct(runs.base, 50), relayMBs: pct(runs.relay, 50), bytes: expected };
}

async function resume() {
  const rt = await startRuntime([process.execPath, floodAgent, '250000']); // 4 MB then idle
  await sleep(1500);
  const first = await connect(rt);
  let have = 0;
  await new Promise((resolve) => first.on('message', (d, bin) => { if (bin) { have += d.length; if (have >= 1_000_000) resolve(); } }));
  first.terminate();
  await sleep(200);
  const t0 = process.hrtime.bigint();
  const ws = await connect(rt, `?offset=${have}`);
  let replayed = 0;
  await new Promise((resolve) => ws.on('message', (d, bin) => { if (bin) { replayed += d.length; if (have + replayed >= 4_000_000) resolve(); } }));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  ws.close();
  await rt.stop();
  return { resumedAt: have, replayed, ms };
}

async function stalled() {
  const rt = await startRuntime([process.execPath, floodAgent, '-1']);
  await sleep(500);
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${rt.proc.pid}/status`, 'utf8'))[1]);
  const base = rss();
  const sock = net.connect(Number(new URL(rt.url).port), '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`GET /connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${rt.token}\r\n\r\n`);
  await new Promise((r) => sock.once('data', r));
  sock.pause();
  let peak = 0;
  for (let i = 0; i < 100; i++) { peak = Math.max(peak, rss()); await sleep(50); }
  sock.destroy();
  await rt.stop();
  return { baseKiB: base, peakKiB: peak };
}

const base = await echoBaseline();
const relay = await echoRelay();
const row = (name, xs) => `${name.padEnd(22)} p50 ${pct(xs, 50).toFixed(3)} ms  p99 ${pct(xs, 99).toFixed(3)} ms`;
console.log(row('echo local node-pty', base));
console.log(row('echo through relay', relay));
console.log(`echo added: p50 ${(pct(relay, 50) - pct(base, 50)).toFixed(3)} ms, p99 ${(pct(relay, 99) - pct(base, 99)).toFixed(3)} ms`);
const tp = await throughput();
console.log(`throughput cat 100 MB (median of 3): local ${tp.baseMBs.toFixed(1)} MB/s, relay ${tp.relayMBs.toFixed(1)} MB/s (ratio ${(tp.relayMBs / tp.baseMBs).toFixed(2)})`);
const r = await resume();
console.log(`resume: dropped at ${r.resumedAt} B, replayed ${r.replayed} B exactly in ${r.ms.toFixed(1)} ms`);
const s = await stalled();
console.log(`stalled reader + endless flood (5 s): runtime VmRSS ${s.baseKiB} KiB → peak ${s.peakKiB} KiB`);
