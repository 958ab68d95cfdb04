/** Keystrokes held while no connection is ready: kept in order, copied, bounded. */
import { describe, expect, it } from 'vitest';
import { PendingInput } from '../../cli/attach/attach.js';

describe('PendingInput', () => {
  it('gives back what was typed, in order, once', () => {
    const pending = new PendingInput();
    expect(pending.add(Buffer.from('ab'))).toBe(true);
    expect(pending.add(Buffer.alloc(0))).toBe(true);
    expect(pending.add(Buffer.from('cd'))).toBe(true);
    expect(pending.take().toString()).toBe('abcd');
    expect(pending.take().length).toBe(0);
  });

  it('copies what it keeps (the stream may reuse its chunk)', () => {
    const pending = new PendingInput();
    const chunk = Buffer.from('xy');
    pending.add(chunk);
    chunk.fill(0);
    expect(pending.take().toString()).toBe('xy');
  });

  it('refuses what does not fit, keeps what did, and takes more once emptied', () => {
    const pending = new PendingInput();
    expect(pending.add(Buffer.alloc(PendingInput.CAP_BYTES - 1, 1))).toBe(true);
    expect(pending.add(Buffer.from('zz'))).toBe(false);
    expect(pending.add(Buffer.from('z'))).toBe(true);
    expect(pending.take().length).toBe(PendingInput.CAP_BYTES);
    expect(pending.add(Buffer.from('zz'))).toBe(true);
  });
});
