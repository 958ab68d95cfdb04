/**
 * The terminal view, for a signed-in user (/app/s/<label>) and for a share link (watch only):
 * a status line (connection, who has the input, how many are attached), a "Take control"
 * button for the user, and the terminal.
 *
 * Input rules, as the runtime enforces them too: a browser attaches watching; keystrokes and
 * resizes leave the page only while it controls. A page that controlled when its connection
 * dropped takes control again once back (the control message of the new connection, which
 * comes after hello, says whether it has it). Watching, the terminal is drawn at the PTY's
 * size (hello/resized) with the font scaled down to fit a narrow screen; controlling, it fits the
 * window and the PTY follows.
 *
 * Each chunk of output, once xterm has parsed it, is announced as a `catty-output` event on the
 * terminal's element with the output offset and the time (performance.timeOrigin + now): how
 * the tests measure the runtime-to-browser latency against a CLI's.
 */
import { el, replaceChildren } from '../dom.js';
import { TerminalConnection, type ControlState, type LinkStatus, type SessionProbe } from './connection.js';
import { createTerminal } from './xterm.js';

export interface TerminalViewOptions {
  url(offset: number | undefined, cols: number, rows: number): string;
  protocols?: string[];
  probe: SessionProbe;
  /** A share link: never input, no take-control button. */
  readonly: boolean;
}

export interface OutputEventDetail {
  offset: number;
  at: number;
}

const encoder = new TextEncoder();

export function renderTerminalView(host: HTMLElement, options: TerminalViewOptions): () => void {
  const connectionText = el('span', { class: 'term-conn', attrs: { role: 'status' }, text: 'Connecting…' });
  const controlText = el('span', { class: 'term-control', attrs: { 'data-testid': 'control-state' } });
  const clientsText = el('span', { class: 'term-clients' });
  const exitText = el('span', { class: 'term-exit' });
  const takeControl = el('button', { class: 'primary', text: 'Take control', attrs: { type: 'button', hidden: '' } });
  const bar = el('div', { class: 'term-bar' }, connectionText, controlText, clientsText, exitText, options.readonly ? null : takeControl);
  const screen = el('div', { class: 'term-screen', attrs: { 'data-testid': 'terminal' } });
  replaceChildren(host, bar, screen);

  const view = createTerminal(screen);
  const { term } = view;
  if (options.readonly) term.options.disableStdin = true;
  let controlling = false;
  let pty = { cols: term.cols, rows: term.rows };

  const layout = () => {
    if (controlling) {
      const size = view.fitToContainer();
      if (size.cols !== pty.cols || size.rows !== pty.rows) {
        pty = size;
        connection.sendMessage({ type: 'resize', ...size });
      }
    } else {
      view.drawAt(pty.cols, pty.rows);
    }
  };

  const showControl = (state: ControlState) => {
    controlling = state.controlling && !options.readonly;
    screen.classList.toggle('controlling', controlling);
    if (controlling) controlText.textContent = 'You control input';
    else if (state.controller === 'cli') controlText.textContent = 'Watching — the laptop has control';
    else if (state.controller === 'browser') controlText.textContent = 'Watching — another browser has control';
    else controlText.textContent = 'Watching — nobody has control';
    clientsText.textContent = `${state.clients} attached`;
    takeControl.hidden = controlling || options.readonly;
    if (controlling) term.focus();
    layout();
  };

  const showStatus = (status: LinkStatus) => {
    screen.classList.toggle('ended', status.kind === 'ended');
    switch (status.kind) {
      case 'connecting':
        connectionText.textContent = 'Connecting…';
        break;
      case 'connected':
        connectionText.textContent = 'Live';
        break;
      case 'reconnecting':
        connectionText.textContent = `Reconnecting (${status.reason})…`;
        break;
      case 'ended':
        connectionText.textContent = status.reason;
        controlling = false;
        takeControl.hidden = true;
        controlText.textContent = '';
        clientsText.textContent = '';
        break;
    }
  };

  const connection = new TerminalConnection({
    url: options.url,
    protocols: options.protocols,
    size: () => ({ cols: term.cols, rows: term.rows }),
    probe: options.probe,
    handlers: {
      hello(hello, reconnect) {
        pty = { cols: hello.cols, rows: hello.rows };
        // Back after a drop with the input it had: take it again (a browser attaches watching).
        if (reconnect && controlling && !options.readonly) connection.sendMessage({ type: 'take_control' });
        if (hello.screen !== undefined) {
          term.reset();
          term.write(hello.screen);
        }
        exitText.textContent = hello.agentRunning ? '' : 'The agent has exited.';
        layout();
      },
      output(bytes, endOffset) {
        term.write(bytes, () => {
          const detail: OutputEventDetail = { offset: endOffset, at: performance.timeOrigin + performance.now() };
          screen.dispatchEvent(new CustomEvent('catty-output', { detail }));
        });
      },
      control: showControl,
      resized(cols, rows) {
        pty = { cols, rows };
        if (!controlling) layout();
      },
      exit(exit) {
        exitText.textContent = exit.signal !== null ? `The agent was killed (signal ${exit.signal}).` : `The agent exited (code ${exit.code ?? '?'}).`;
      },
      status: showStatus,
    },
  });

  if (!options.readonly) {
    term.onData((data) => {
      if (controlling) connection.sendBytes(encoder.encode(data));
    });
    term.onBinary((data) => {
      if (controlling) connection.sendBytes(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
    });
    takeControl.addEventListener('click', () => connection.sendMessage({ type: 'take_control' }));
  }

  // The screen's box changes with the window, the phone's rotation, the bar wrapping: lay out
  // again once per frame at most.
  let frame = 0;
  const resizes = new ResizeObserver(() => {
    if (frame) return;
    frame = window.requestAnimationFrame(() => {
      frame = 0;
      layout();
    });
  });
  resizes.observe(screen);
  view.drawAt(pty.cols, pty.rows);
  connection.start();

  return () => {
    resizes.disconnect();
    window.cancelAnimationFrame(frame);
    connection.stop();
    view.dispose();
  };
}
