/**
 * One xterm.js terminal for the page, made safe for bytes a session machine wrote:
 * - no clipboard addon: OSC 52 (a program writing the viewer's clipboard) has no handler, so it
 *   writes nothing;
 * - OSC 8 hyperlinks open only when they are http(s), in a new tab with no opener; any other
 *   scheme (javascript:, data:, file:, vscode:…) does nothing when clicked;
 * - title changes (OSC 0/2) are never listened to, so nothing on the page (document.title
 *   included) ever shows text the program chose as a title;
 * - xterm's window operations (CSI t: report or move the window) stay off (its default).
 * The CSP side of xterm (its `<style>` elements) is ./csp-adapter.ts.
 */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal, type ITheme } from '@xterm/xterm';
import { adaptXtermToCsp } from './csp-adapter.js';

export const BASE_FONT_SIZE = 14;
const MIN_FONT_SIZE = 6;

const THEME: ITheme = {
  background: '#101216',
  foreground: '#d8dee9',
  cursor: '#d8dee9',
  selectionBackground: '#3b4252',
};

/** True for the links a click may open: http and https URLs, nothing else. */
export function isWebUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export interface PageTerminal {
  term: Terminal;
  /** Controlling: fit the container and return the size. */
  fitToContainer(): { cols: number; rows: number };
  /** Watching: draw at the PTY's size, the font scaled down until the width fits (phones). */
  drawAt(cols: number, rows: number): void;
  dispose(): void;
}

export function createTerminal(container: HTMLElement): PageTerminal {
  const undoCsp = adaptXtermToCsp(container);
  const term = new Terminal({
    fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace',
    fontSize: BASE_FONT_SIZE,
    scrollback: 5000,
    theme: THEME,
    cursorBlink: false,
    linkHandler: {
      allowNonHttpProtocols: false,
      activate: (_event, text) => {
        if (isWebUrl(text)) window.open(text, '_blank', 'noopener,noreferrer');
      },
    },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(container);

  const setFont = (size: number) => {
    if (term.options.fontSize !== size) term.options.fontSize = size;
  };

  return {
    term,
    fitToContainer() {
      setFont(BASE_FONT_SIZE);
      fit.fit();
      return { cols: term.cols, rows: term.rows };
    },
    drawAt(cols, rows) {
      setFont(BASE_FONT_SIZE);
      const fits = fit.proposeDimensions();
      if (fits && fits.cols < cols) setFont(Math.max(MIN_FONT_SIZE, Math.floor((BASE_FONT_SIZE * fits.cols) / cols)));
      if (term.cols !== cols || term.rows !== rows) term.resize(cols, rows);
    },
    dispose() {
      term.dispose();
      undoCsp();
    },
  };
}
