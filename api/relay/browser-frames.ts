/**
 * What a browser may send on to the runtime (issue 24), enforced in the relay beside the
 * runtime's own rules (defence in depth: each must hold alone):
 * - a share link's browser only watches: every frame it sends is dropped, binary and text
 *   (pings are answered by the socket and never reach here);
 * - the owner's browser types and resizes when it has control, and asks for it: binary frames
 *   (keystrokes), `resize` and `take_control` go on; `sync_back` and `git_home` (the CLI's, so
 *   `file_change` never goes to a browser), and anything that is not a valid message, are dropped.
 */
import { parseClientMessage } from '../../session-runtime/wire/protocol.js';

export function ownerBrowserFrame(data: Buffer, isBinary: boolean): boolean {
  if (isBinary) return true;
  const message = parseClientMessage(data.toString('utf8'));
  return message !== null && (message.type === 'resize' || message.type === 'take_control');
}

export function shareBrowserFrame(): boolean {
  return false;
}
