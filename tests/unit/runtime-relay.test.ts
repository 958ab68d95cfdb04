/** The relay with a fake agent and fake sockets: resume, takeover, batching, backpressure. */
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { COALESCE_MS, FRAME_CAP_BYTES, HIGH_WATER_BYTES, LOW_WATER_BYTES, Relay } from '../../session-runtime/relay.js';
import { FakeAgent, FakeSocket } from '../helpers/relay-fakes.js';
import { elapse, waitFor } from '../helpers/wait.js';

/** A relay with a fake agent and one fake client attached (no offset: it starts at 0). */
async function attachedRelay() {
  const relay = new Relay(80, 24);
  const agent = new FakeAgent();
  relay.setAgent(agent);
  const s = new FakeSocket();
  await relay.attach(s, undefined);
  return { relay, agent, s };
}

describe('Relay', () => {
  it('sends output right after the current event-loop turn and coalesces what came in it', async () => {
    const { relay, agent, s } = await attachedRelay();
    agent.emit('a');
    await new Promise((r) => setImmediate(r)); // an echo waits one turn, no timer
    expect(s.frames.map(String)).toEqual(['a']);
    agent.emit('b');
    agent.emit('c');
    await new Promise((r) => setImmediate(r));
    expect(s.frames.map(String)).toEqual(['a', 'bc']);
    agent.emit(Buffer.alloc(100 * 1024)); // past the frame cap: sent without waiting
    expect(s.frames.length).toBeGreaterThan(2);
    relay.dispose();
  });

  it('while output flows, sends one frame per COALESCE_MS; an echo after a pause goes at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    try {
      const { relay, agent, s } = await attachedRelay();
      agent.emit('a'.repeat(2048)); // the line was idle: sent after this turn
      vi.advanceTimersByTime(0);
      expect(s.frames.map((f) => f.length)).toEqual([2048]);
      vi.advanceTimersByTime(5);
      agent.emit('b'.repeat(1000)); // flowing now: held for one display frame (16 ms)
      expect(COALESCE_MS).toBe(16);
      vi.advanceTimersByTime(10);
      agent.emit('c'.repeat(1000));
      expect(s.frames).toHaveLength(1);
      vi.advanceTimersByTime(6);
      expect(s.frames.map(String).slice(1)).toEqual(['b'.repeat(1000) + 'c'.repeat(1000)]);
      vi.advanceTimersByTime(100); // a pause: the next keystroke's echo is not held
      agent.emit('d');
      vi.advanceTimersByTime(0);
      expect(s.frames.map(String).at(-1)).toBe('d');
      relay.dispose();
    } finally {
      vi.useRealTimers();
    }
  });

  it('replays exactly from a known offset and restores a screen for an unknown one', async () => {
    const relay = new Relay(80, 24, null, 64);
    const agent = new FakeAgent();
    relay.setAgent(agent);
    agent.emit('0123456789');
    const s = new FakeSocket();
    await relay.attach(s, 4);
    expect(s.messages[0]).toMatchObject({ type: 'hello', offset: 4 });
    expect(s.output()).toBe('456789');
    agent.emit('x'.repeat(100)); // the log (64 bytes) no longer holds offset 4
    const t = new FakeSocket();
    await relay.attach(t, 4);
    const hello = t.messages.find((m) => m.type === 'hello');
    expect(hello).toMatchObject({ type: 'hello', offset: 110 });
    expect(hello && 'screen' in hello && hello.screen).toContain('0123456789xxxx');
    relay.dispose();
  });

  it('replaces the previous client with an error and 4000', async () => {
    const relay = new Relay(80, 24);
    relay.setAgent(new FakeAgent());
    const a = new FakeSocket();
    const b = new FakeSocket();
    await relay.attach(a, undefined);
    await relay.attach(b, undefined);
    expect(a.messages.at(-1)).toMatchObject({ type: 'error', code: 'replaced' });
    expect(a.closed?.[0]).toBe(4000);
    expect(b.closed).toBeNull();
    relay.dispose();
  });

  it('sends full frames that fit one loopback TCP segment (one client socket read each)', async () => {
    const { relay, agent, s } = await attachedRelay();
    agent.emit(Buffer.alloc(3 * FRAME_CAP_BYTES + 100, 0x62));
    await waitFor(() => Buffer.concat(s.frames).length === 3 * FRAME_CAP_BYTES + 100, 'every byte sent');
    expect(s.frames.map((f) => f.length)).toEqual([FRAME_CAP_BYTES, FRAME_CAP_BYTES, FRAME_CAP_BYTES, 100]);
    // ws's own framing (untyped in @types/ws) of a full frame: header + payload.
    const { Sender } = createRequire(import.meta.url)('ws') as { Sender: { frame(data: Buffer, options: object): Buffer[] } };
    const wire = Sender.frame(Buffer.alloc(FRAME_CAP_BYTES), { fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false });
    // Loopback's MTU is 64 KiB; one segment carries 65,483 bytes (advmss: less IP, TCP, timestamps).
    expect(wire.reduce((n, b) => n + b.length, 0)).toBeLessThanOrEqual(64 * 1024 - 20 - 20 - 12 - 1);
    relay.dispose();
  });

  it('sends a full frame at once and leaves the rest for the coalescing timer, not a tiny frame behind it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    try {
      const { relay, agent, s } = await attachedRelay();
      const read = Buffer.alloc(4096, 0x63); // what one PTY read hands out
      for (let i = 0; i < 40; i++) agent.emit(read); // 160 KiB, faster than any timer
      expect(s.frames.map((f) => f.length)).toEqual([FRAME_CAP_BYTES, FRAME_CAP_BYTES]);
      vi.advanceTimersByTime(COALESCE_MS);
      expect(s.frames.map((f) => f.length)).toEqual([FRAME_CAP_BYTES, FRAME_CAP_BYTES, 40 * 4096 - 2 * FRAME_CAP_BYTES]);
      expect(vi.getTimerCount()).toBe(0);
      relay.dispose();
    } finally {
      vi.useRealTimers();
    }
  });

  it('pauses the agent above the high-water mark and resumes below the low-water mark', async () => {
    const { relay, agent, s } = await attachedRelay();
    s.stalled = true;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    while (!agent.paused) agent.emit(chunk);
    expect(relay.log.end).toBeGreaterThan(HIGH_WATER_BYTES);
    expect(relay.log.end).toBeLessThan(HIGH_WATER_BYTES + 4 * chunk.length);
    // The client reads whatever was sent, until the relay has nothing more to send.
    await waitFor(() => {
      s.flush();
      return !agent.paused && Buffer.concat(s.frames).length === relay.log.end;
    }, 'the agent resumed and every byte read');
    expect(agent.paused).toBe(false);
    expect(Buffer.concat(s.frames).length).toBe(relay.log.end);
    expect(LOW_WATER_BYTES).toBeLessThan(HIGH_WATER_BYTES);
    relay.dispose();
  });

  it('sends output held back by a socket full of other messages once they drain, with no new output', async () => {
    const { relay, agent, s } = await attachedRelay();
    s.bufferedAmount = HIGH_WATER_BYTES + 1; // sync-back messages: their sends never call back
    agent.emit('held');
    await elapse(2 * COALESCE_MS); // on purpose: two batching periods in which nothing may be sent
    expect(s.output()).toBe('');
    s.bufferedAmount = 0; // they drained; the agent stays quiet
    await waitFor(() => s.output() === 'held', 'the held output', { timeoutMs: 2_000, everyMs: 5 });
    expect(s.output()).toBe('held');
    relay.dispose();
  });

  it('leaves no timer armed once all output is sent (an idle session does not wake up)', async () => {
    vi.useFakeTimers();
    try {
      const { relay, agent, s } = await attachedRelay();
      for (let i = 0; i < 5; i++) {
        agent.emit(`line ${i}\n`);
        await vi.advanceTimersByTimeAsync(1); // the flush, one turn later
        expect(vi.getTimerCount()).toBe(0);
        await vi.advanceTimersByTimeAsync(10);
      }
      expect(s.output()).toBe('line 0\nline 1\nline 2\nline 3\nline 4\n');
      relay.dispose();
    } finally {
      vi.useRealTimers();
    }
  });

  it('delivers every byte in order while frames wait in a stalled socket', async () => {
    const { relay, agent, s } = await attachedRelay();
    s.stalled = true;
    const sent: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const chunk = Buffer.alloc(16 * 1024, `chunk ${i} `);
      sent.push(chunk);
      agent.emit(chunk);
      if (i % 10 === 9) await elapse(5); // on purpose: frames go out (and stay pending) between chunks
    }
    const total = Buffer.concat(sent).length;
    const pendingBytes = () => s.pending.reduce((n, p) => n + p.data.length, 0);
    await waitFor(() => pendingBytes() === total, 'every byte handed to the stalled socket');
    expect(s.pending.length).toBeGreaterThan(1);
    await waitFor(() => {
      s.flush();
      return Buffer.concat(s.frames).length === total;
    }, 'every byte read');
    expect(Buffer.concat(s.frames).equals(Buffer.concat(sent))).toBe(true);
    relay.dispose();
  });

  it('never pauses with nobody attached, and un-pauses when a stalled client leaves', async () => {
    const relay = new Relay(80, 24);
    const agent = new FakeAgent();
    relay.setAgent(agent);
    for (let i = 0; i < 40; i++) agent.emit(Buffer.alloc(64 * 1024));
    expect(agent.paused).toBe(false);
    const s = new FakeSocket();
    s.stalled = true;
    await relay.attach(s, relay.log.end);
    while (!agent.paused) agent.emit(Buffer.alloc(64 * 1024));
    relay.detach(s);
    expect(agent.paused).toBe(false);
    relay.dispose();
  });

  it('sends remaining output, then exit, then closes 4001 when the agent exits', async () => {
    const { relay, agent, s } = await attachedRelay();
    agent.emit('a');
    agent.emit('bye');
    agent.exit({ code: 3, signal: null });
    expect(s.output()).toBe('abye');
    expect(s.messages.at(-1)).toEqual({ type: 'exit', code: 3, signal: null });
    expect(s.closed?.[0]).toBe(4001);
    relay.dispose();
  });

  it('closes 1008 on an invalid control message and routes resize to the agent', async () => {
    const { relay, agent, s } = await attachedRelay();
    relay.handleText(s, JSON.stringify({ type: 'resize', cols: 100, rows: 50 }));
    expect(agent.size).toEqual([100, 50]);
    relay.handleText(s, '{"type":"resize","cols":0,"rows":5}');
    expect(s.closed?.[0]).toBe(1008);
    relay.dispose();
  });
});
