import { describe, expect, it } from 'vitest';
import { replayableOutput } from '../../cli/terminal-replay.js';

const replay = (s: string): string => replayableOutput(Buffer.from(s, 'utf8')).toString('utf8');

describe('replayableOutput', () => {
  it("removes the requests in Claude Code's own start-up output and keeps what draws", () => {
    const start = '\x1b[?2004h\x1b[?1004h\x1b[?2031h\x1b[>0q\x1b[c\x1b[?25l\x1b[95m✻ Welcome\x1b[39m\x1b[24G│\r\n';
    expect(replay(start)).toBe('\x1b[?2004h\x1b[?1004h\x1b[?2031h\x1b[?25l\x1b[95m✻ Welcome\x1b[39m\x1b[24G│\r\n');
  });

  it.each([
    ['device attributes', '\x1b[c', '\x1b[0c', '\x1b[>c', '\x1b[=c'],
    ['status and cursor reports', '\x1b[5n', '\x1b[6n', '\x1b[?6n'],
    ['version and mode queries', '\x1b[>0q', '\x1b[?2004$p', '\x1b[4$p', '\x1b[?u'],
    ['window manipulation', '\x1b[14t', '\x1b[8;50;200t', '\x1b[1x'],
    ['colour queries and the clipboard', '\x1b]11;?\x07', '\x1b]10;?\x1b\\', '\x1b]4;1;?\x07', '\x1b]52;c;aGVsbG8=\x07'],
    ['DCS, APC, PM and SOS strings', '\x1bP$qm\x1b\\', '\x1bP+q544e\x1b\\', '\x1b_Gi=31,a=q;\x1b\\', '\x1b^x\x1b\\', '\x1bXx\x1b\\'],
  ])('removes %s', (_what, ...sequences) => {
    for (const seq of sequences) expect(replay(`a${seq}b`), JSON.stringify(seq)).toBe('ab');
  });

  it('keeps cursor styles, keyboard LEDs, keyboard protocol changes, titles and links', () => {
    const kept = '\x1b[2 q\x1b[1q\x1b[>1u\x1b[<u\x1b]0;my title\x07\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\\x1b[3;20r\x1b[2J\x1b[H';
    expect(replay(kept)).toBe(kept);
  });

  it('drops a string sequence cut off at the end, which would swallow what is printed next', () => {
    expect(replay('done\x1b]0;half a tit')).toBe('done');
    expect(replay('done\x1bP$q')).toBe('done');
  });

  it('passes every other byte through as it is, UTF-8 included', () => {
    const bytes = Buffer.concat([Buffer.from('héllo ✻ 🐱\r\n', 'utf8'), Buffer.from([0, 7, 8, 0x7f, 0xff, 0x1b])]);
    expect(replayableOutput(bytes)).toBe(bytes);
    const withQuery = Buffer.concat([Buffer.from('✻\x1b[c', 'utf8'), Buffer.from([0xff])]);
    expect(replayableOutput(withQuery)).toEqual(Buffer.concat([Buffer.from('✻', 'utf8'), Buffer.from([0xff])]));
  });
});
