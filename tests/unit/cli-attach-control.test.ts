/** The CLI's side of control (cli/attach/control.ts): notices, Enter, and its size on regaining. */
import { describe, expect, it } from 'vitest';
import { InputControl } from '../../cli/attach/control.js';
import type { ClientMessage, ControlMessage } from '../../session-runtime/wire/protocol.js';

function setup() {
  const notices: (string | null)[] = [];
  const sent: ClientMessage[] = [];
  const control = new InputControl({ label: 'demo', detachKey: 0x1d, notice: (line) => notices.push(line), size: () => ({ cols: 120, rows: 40 }) });
  const connection = { send: (m: ClientMessage) => sent.push(m) };
  const msg = (controlling: boolean, controller: ControlMessage['controller'], clients = 2): ControlMessage => ({ type: 'control', controlling, controller, clients });
  return { notices, sent, control, connection, msg };
}

describe('InputControl', () => {
  it('says once that a browser has control, holds keystrokes back, and takes control on Enter', () => {
    const { notices, sent, control, connection, msg } = setup();
    control.onControl(msg(true, 'cli'), connection);
    expect(notices).toEqual([]);
    control.onControl(msg(false, 'browser'), connection);
    expect(control.controlling).toBe(false);
    expect(notices).toEqual(['[a browser has control of demo; press Enter to take it back, Ctrl-] to detach]']);
    control.onControl(msg(false, 'browser', 3), connection); // another browser came: no new notice
    expect(notices).toHaveLength(1);
    control.typedWhileWatching(Buffer.from('ls'), connection); // drawn again: output may have covered it
    expect(notices).toHaveLength(2);
    expect(sent).toEqual([]);
    control.typedWhileWatching(Buffer.from('x\r'), connection);
    expect(sent).toEqual([{ type: 'take_control' }]);
  });

  it('on control coming back: one line, and the terminal size so the agent redraws for it; the next keystroke erases the line', () => {
    const { notices, sent, control, connection, msg } = setup();
    control.onControl(msg(false, 'browser'), connection);
    control.onControl(msg(true, 'cli'), connection);
    expect(control.controlling).toBe(true);
    expect(notices.at(-1)).toBe('[you have control of demo again]');
    expect(sent).toEqual([{ type: 'resize', cols: 120, rows: 40 }]);
    control.typing();
    expect(notices.at(-1)).toBeNull();
    control.typing();
    expect(notices.filter((n) => n === null)).toHaveLength(1);
  });

  it('says when nobody has control (the browser that had it left)', () => {
    const { notices, control, connection, msg } = setup();
    control.onControl(msg(false, 'browser'), connection);
    control.onControl(msg(false, null, 1), connection);
    expect(notices.at(-1)).toBe('[nobody has control of demo; press Enter to take it, Ctrl-] to detach]');
  });

  it('a new connection controls from its hello on (a CLI takes control when it attaches)', () => {
    const { control, connection, msg } = setup();
    control.onControl(msg(false, 'browser'), connection);
    control.attached();
    expect(control.controlling).toBe(true);
  });
});
