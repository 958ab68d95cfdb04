// A soak terminal client for one session: checks every output byte against the agent's
// expected stream as it arrives (no buffering of the whole output), applies file_change
// messages to an in-memory tree, and drops or closes its connection at random, reconnecting
// with its offset after a random pause.
import net from 'node:net';
import WebSocket from 'ws';
import { expectedSlice } from './agent.mjs';

export class SoakClient {
  /** @param {{ sid: number, connectUrl: string, socketPath?: string, token: string, ticks: number, random: () => number }} o */
  constructor(o) {
    Object.assign(this, o);
    this.have = 0;
    this.reconnects = 0;
    this.cuts = 0;
    this.problems = [];
    this.files = new Map();
    this.transfers = new Map();
    this.fileMessages = 0;
    this.stopping = false;
    this.ws = null;
    this.chaosTimer = null;
  }

  problem(text) {
    if (this.problems.length < 20) this.problems.push(`session ${this.sid}: ${text}`);
  }

  start() {
    this.#connect();
    this.#scheduleChaos();
  }

  #connect() {
    const query = this.have > 0 ? `?offset=${this.have}` : '';
    const socketPath = this.socketPath;
    const ws = new WebSocket(`${this.connectUrl.replace(/^http/, 'ws')}/connect${query}`, {
      headers: { authorization: `Bearer ${this.token}` },
      // The runtime's Unix socket, when the API hands one out (the embedded local mode).
      ...(socketPath ? { createConnection: () => net.createConnection(socketPath) } : {}),
    });
    this.ws = ws;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'sync_back', enabled: true })));
    ws.on('message', (data, isBinary) => (isBinary ? this.#output(data) : this.#control(JSON.parse(data.toString()))));
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (this.ws === ws) this.ws = null;
      if (this.stopping) return;
      setTimeout(() => {
        if (this.stopping) return;
        this.reconnects += 1;
        this.#connect();
      }, 200 + this.random() * 2800);
    });
  }

  #output(data) {
    const want = expectedSlice(this.ticks, this.have, data.length);
    if (!want.equals(data)) this.problem(`output differs at offset ${this.have} (${data.length} bytes; got ${JSON.stringify(data.subarray(0, 40).toString('latin1'))})`);
    this.have += data.length;
  }

  #control(msg) {
    switch (msg.type) {
      case 'hello':
        if (msg.offset !== this.have) this.problem(`resumed at ${msg.offset}, asked for ${this.have}`);
        if (msg.screen !== undefined && this.have > 0) this.problem(`screen restore at ${this.have}: output lost`);
        break;
      case 'file_change':
        this.fileMessages += 1;
        if (msg.action === 'delete') this.files.delete(msg.path);
        else if (msg.transfer !== undefined && msg.chunks !== undefined) this.transfers.set(msg.transfer, { path: msg.path, chunks: [], total: msg.chunks });
        else this.files.set(msg.path, Buffer.from(msg.content ?? '', 'base64').toString('utf8'));
        break;
      case 'file_chunk': {
        const t = this.transfers.get(msg.transfer);
        if (!t) break;
        t.chunks[msg.index] = Buffer.from(msg.data, 'base64');
        if (t.chunks.filter(Boolean).length === t.total) {
          this.files.set(t.path, Buffer.concat(t.chunks).toString('utf8'));
          this.transfers.delete(msg.transfer);
        }
        break;
      }
      case 'file_skipped':
        this.problem(`file skipped: ${msg.path}`);
        break;
      case 'exit':
        this.problem(`agent exited: ${JSON.stringify(msg)}`);
        break;
      case 'error':
        this.problem(`runtime error: ${msg.code} ${msg.message}`);
        break;
    }
  }

  /** Every 5–30 s: cut the connection (no close handshake) or close it cleanly. */
  #scheduleChaos() {
    this.chaosTimer = setTimeout(() => {
      if (this.stopping || this.chaosTimer === null) return;
      if (this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.cuts += 1;
        if (this.random() < 0.5) this.ws.terminate();
        else this.ws.close();
      }
      this.#scheduleChaos();
    }, 5000 + this.random() * 25_000);
  }

  /** Stops the chaos (reconnects still happen); waits for a live connection. */
  async settle() {
    clearTimeout(this.chaosTimer);
    this.chaosTimer = null;
    const until = Date.now() + 10_000;
    while ((!this.ws || this.ws.readyState !== WebSocket.OPEN) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }

  stop() {
    this.stopping = true;
    clearTimeout(this.chaosTimer);
    this.ws?.terminate();
  }
}
