/**
 * Recorded terminal output made fit to print again on the user's own terminal (`catty logs`). An
 * agent's output holds requests a terminal answers by typing: Claude Code asks for the device
 * attributes (`ESC[c`) and the terminal's version (`ESC[>0q`) when it starts. Replayed, the
 * answers would land in the user's shell once catty exits. So every request that makes a terminal
 * answer is removed — device attributes, status and version reports, mode and setting queries,
 * colour queries — and so are window manipulation, clipboard writes, and DCS/APC/PM/SOS strings
 * (queries, passthrough, graphics). What draws (text, colours, cursor moves, erases, modes) is
 * kept; the caller resets the modes afterwards. This keeps a terminal clean; it is no security
 * boundary (attached, the user's terminal shows the machine's output as it comes, as over ssh).
 */

/** One escape sequence: CSI, a string sequence (OSC, DCS, APC, PM, SOS) or an unterminated one. */
// eslint-disable-next-line no-control-regex
const SEQUENCE = /\x1b\[([0-?]*)([ -/]*)([@-~])|\x1b([\]P_^X])([^\x07\x1b]*)(\x07|\x1b\\|$)/g;

function dropCsi(params: string, intermediates: string, final: string): boolean {
  if (intermediates === '$' && final === 'p') return true; // DECRQM: report a mode
  if (intermediates !== '') return false;
  switch (final) {
    case 'c': // DA1/DA2/DA3: device attributes
    case 'n': // DSR: status and cursor position reports
    case 't': // window manipulation and reports
    case 'x': // DECREQTPARM: terminal parameters
      return true;
    case 'q': // XTVERSION (`>`); plain `q` sets keyboard LEDs
      return params.startsWith('>');
    case 'u': // kitty keyboard protocol query (`?`); push/pop/set are kept
      return params.startsWith('?');
    default:
      return false;
  }
}

function dropString(kind: string, payload: string, terminator: string): boolean {
  if (terminator === '') return true; // cut off at the end: it would swallow what we print next
  if (kind !== ']') return true; // DCS (DECRQSS, XTGETTCAP, tmux passthrough), APC, PM, SOS
  if (/^52;/.test(payload)) return true; // OSC 52: the clipboard
  return payload.split(';').includes('?'); // OSC 4/10/11/12…: colour queries
}

/** `bytes` without the sequences that make a terminal answer or act outside its screen. */
export function replayableOutput(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1'); // one char per byte: no sequence is split or re-encoded
  const kept = text.replace(SEQUENCE, (whole, params?: string, intermediates?: string, final?: string, kind?: string, payload?: string, terminator?: string) => {
    if (final !== undefined) return dropCsi(params!, intermediates!, final) ? '' : whole;
    return dropString(kind!, payload!, terminator!) ? '' : whole;
  });
  return kept.length === text.length ? bytes : Buffer.from(kept, 'latin1');
}
