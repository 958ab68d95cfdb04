import { describe, expect, it } from 'vitest';
import { OutputLog } from '../../session-runtime/output-log.js';

function bytes(from: number, to: number): Buffer {
  return Buffer.from(Array.from({ length: to - from }, (_, i) => (from + i) % 256));
}

describe('OutputLog', () => {
  it('keeps absolute offsets across wrap-around and serves exact slices', () => {
    const log = new OutputLog(100);
    let written = 0;
    for (const size of [30, 50, 40, 7, 99]) {
      log.append(bytes(written, written + size));
      written += size;
    }
    expect(log.end).toBe(written);
    expect(log.start).toBe(written - 100);
    expect(log.slice(log.start)).toEqual(bytes(log.start, written));
    expect(log.slice(written - 10, 4)).toEqual(bytes(written - 10, written - 6));
    expect(log.slice(written)).toEqual(Buffer.alloc(0));
    expect(log.has(log.start - 1)).toBe(false);
    expect(log.has(written + 1)).toBe(false);
    expect(() => log.slice(log.start - 1)).toThrow(RangeError);
  });

  it('handles a single append larger than the capacity', () => {
    const log = new OutputLog(16);
    log.append(bytes(0, 40));
    expect(log.end).toBe(40);
    expect(log.start).toBe(24);
    expect(log.slice(24)).toEqual(bytes(24, 40));
  });

  it('tail returns the last bytes and copies (later writes do not change it)', () => {
    const log = new OutputLog(32);
    log.append(Buffer.from('hello world'));
    const tail = log.tail(5);
    expect(tail.toString()).toBe('world');
    log.append(Buffer.alloc(32, 0x41));
    expect(tail.toString()).toBe('world');
  });
});
