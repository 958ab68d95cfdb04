#!/usr/bin/env node
// A terminal client in its own process (so tests can SIGSTOP it and read its VmRSS): connects to
// a catty-session /connect, counts output bytes and hashes them, keeps only a small tail (so its
// memory stays bounded whatever the agent prints), and reports as JSON lines on stdout:
//   {"ev":"hello","offset":n} {"ev":"stat","bytes":n,"sha256":"…","tail":"<base64>"} {"ev":"close","code":n}
// Commands on stdin, one per line: `send <base64>` (keystrokes), `stat` (report now).
//   node stream-client.mjs <ws url> <token> [offset]
import { createHash } from 'node:crypto';
import readline from 'node:readline';
import WebSocket from 'ws';

const [url, token, offsetArg] = process.argv.slice(2);
const TAIL_BYTES = 4096;
const query = offsetArg !== undefined ? `?offset=${offsetArg}` : '';
const ws = new WebSocket(`${url}/connect${query}`, { headers: { authorization: `Bearer ${token}` } });
const hash = createHash('sha256');
let bytes = 0;
let tail = Buffer.alloc(0);
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const stat = () => say({ ev: 'stat', bytes, sha256: hash.copy().digest('hex'), tail: tail.toString('base64') });

ws.on('message', (data, isBinary) => {
  if (!isBinary) {
    const msg = JSON.parse(data.toString());
    if (msg.type === 'hello') say({ ev: 'hello', offset: msg.offset });
    else say({ ev: 'msg', msg: { type: msg.type, code: msg.code } });
    return;
  }
  bytes += data.length;
  hash.update(data);
  tail = Buffer.concat([tail, data]);
  if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
});
ws.on('close', (code) => {
  stat();
  say({ ev: 'close', code });
  process.exit(0);
});
ws.on('error', (err) => say({ ev: 'error', message: err.message }));
setInterval(stat, 100);
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'send') ws.send(Buffer.from(arg ?? '', 'base64'));
  else if (cmd === 'stat') stat();
});
