/** `catty share --ttl`: one number and one unit, from a minute to a week, nothing else. */
import { describe, expect, it } from 'vitest';
import { appPathFor } from '../../cli/commands/open.js';
import { parseShareTtl } from '../../cli/commands/share.js';

describe('parseShareTtl', () => {
  it('minutes, hours and days', () => {
    expect(parseShareTtl('30m')).toBe(1800);
    expect(parseShareTtl('1m')).toBe(60);
    expect(parseShareTtl('1h')).toBe(3600);
    expect(parseShareTtl('36h')).toBe(129_600);
    expect(parseShareTtl('2d')).toBe(172_800);
    expect(parseShareTtl('7d')).toBe(604_800);
    expect(parseShareTtl('10080m')).toBe(604_800);
  });

  it('refuses anything else, and durations outside 1m–7d', () => {
    for (const bad of ['', '1', '3600', 'h', '1H', '1 h', ' 1h', '1h ', '1h30m', '1.5h', '-1h', '+1h', '0m', '01h', '1w', '1s', '59s', '1y', '1e3m', '１h', '1h\n', 'Infinityd']) {
      expect(() => parseShareTtl(bad), JSON.stringify(bad)).toThrow(/expected a duration like 30m, 1h or 2d/);
    }
    for (const outside of ['8d', '169h', '10081m', '9999999d']) {
      expect(() => parseShareTtl(outside), outside).toThrow('a share link lives from 1m to 7d');
    }
  });
});

describe('appPathFor (catty open)', () => {
  it('the sessions page, or a session by label', () => {
    expect(appPathFor(undefined)).toBe('/app/');
    expect(appPathFor('brave-otter-1234')).toBe('/app/s/brave-otter-1234');
  });
});
