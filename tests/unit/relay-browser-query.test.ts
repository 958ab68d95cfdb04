/**
 * The runtime's query for a browser's terminal is written by the API (api/relay/browser.ts):
 * the browser's own query never reaches the runtime, so it cannot name itself a `cli` client or
 * drop `readonly`, nor smuggle anything else in.
 */
import { describe, expect, it } from 'vitest';
import { upstreamQuery } from '../../api/relay/browser.js';

const q = (search: string, kind: 'owner' | 'share') => upstreamQuery(new URLSearchParams(search), kind);

describe('upstreamQuery', () => {
  it('keeps offset, cols and rows, and adds client=browser (and readonly=1 for a share)', () => {
    expect(q('offset=12345&cols=120&rows=40', 'owner')).toBe('?offset=12345&cols=120&rows=40&client=browser');
    expect(q('offset=0', 'share')).toBe('?offset=0&client=browser&readonly=1');
    expect(q('', 'owner')).toBe('?client=browser');
  });

  it('drops everything else the browser wrote, its own client and readonly first', () => {
    expect(q('client=cli&readonly=0&cols=80&token=x&client=cli', 'share')).toBe('?cols=80&client=browser&readonly=1');
    expect(q('readonly=0&readonly=1', 'owner')).toBe('?client=browser');
  });

  it('refuses values that are not integers in range', () => {
    for (const bad of ['offset=-1', 'offset=1e3', 'offset=0x10', 'offset=1234567890123456', 'cols=0', 'cols=1001', 'rows=abc', 'rows=', 'cols=+5', 'cols=5.0']) {
      expect(q(bad, 'owner'), bad).toBeNull();
    }
  });
});
