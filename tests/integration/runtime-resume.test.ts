/**
 * Screen restore when the client offset fell out of the log. Byte-exact resume after dropped
 * sockets and bounded memory with a stalled reader (SECURITY.md 20, 23) are in
 * tests/security/terminal.test.ts.
 */
import { describe, expect } from 'vitest';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

describe('catty-session resume', () => {
  it('restores the screen when the client offset is older than the log', async ({ startRuntime }) => {
    // 1,000,000 records = 16 MB: the first bytes are long gone from the 8 MiB log.
    const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agentCmd('flood.mjs', '1000000') } });
    await waitFor(async () => {
      const res = await fetch(`${rt.url}/logs`, { headers: rt.headers() });
      return Buffer.from(await res.arrayBuffer()).toString('latin1').endsWith('000000000999999|');
    }, 'the flood to finish', { timeoutMs: 60_000, everyMs: 100 });
    const c = new TestClient(rt, { offset: 5 });
    await c.opened;
    const hello = await c.waitForHello();
    expect(hello.offset).toBe(16_000_000);
    expect(hello.screen).toBeDefined();
    // The serialized screen shows the last records the agent wrote.
    expect(hello.screen).toContain('000000000999999|');
    // A brand-new client (no offset) with history beyond the log gets a screen too.
    const fresh = new TestClient(rt);
    await fresh.opened;
    const freshHello = await fresh.waitForHello();
    expect(freshHello.screen).toContain('000000000999999|');
    // Live output continues after the screen.
    fresh.send(Buffer.from('x'));
    await waitFor(() => fresh.closeCode === null, 'still open');
  });

});
