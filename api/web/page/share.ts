/**
 * The share page (/app/share#<token>): a read-only view of one session for someone without an
 * account — what the session is, its terminal (watch only) and its files. The token is read from
 * the URL's fragment, which browsers never send, and travels only as the bearer token of the
 * share routes and as the WebSocket subprotocol `catty-share.<token>`: never in a URL. No
 * take-control button, no actions; the API's relay drops any frame from a share socket anyway.
 */
import { routes, SHARE_CONNECT_PATH, SHARE_SUBPROTOCOL } from '../../contract/routes.js';
import { errorCode, errorText, shareApi } from './api.js';
import { el, replaceChildren } from './dom.js';
import { mountFiles } from './files-mount.js';
import { age, STATUS_TEXT } from './format.js';
import { renderMessage, type Frame } from './shell.js';
import { renderTerminalView } from './terminal/view.js';
import { connectUrl } from './ws-url.js';

/** A share token as the API mints it: URL-safe base64, and a valid WebSocket subprotocol. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{16,200}$/;

const GONE = 'This share link has expired or was revoked. Ask for a new one.';

export async function renderShare(frame: Frame): Promise<void> {
  const token = decodeURIComponent(window.location.hash.slice(1));
  if (!TOKEN_PATTERN.test(token)) return renderMessage(frame.main, 'Not a share link', 'This address has no share token in it. Open the whole link you were given.');
  const api = shareApi(token);
  let session;
  try {
    session = await api.call(routes.shareSession);
  } catch (err) {
    const code = errorCode(err);
    return renderMessage(frame.main, 'Share link', code === 'unauthorized' || code === 'not_found' ? GONE : errorText(err));
  }
  replaceChildren(frame.crumbs, el('span', { class: 'crumb-label', text: session.label }));
  const facts = el(
    'p',
    { class: 'share-facts' },
    el('span', { class: `status status-${session.status}`, text: STATUS_TEXT[session.status] }),
    ` ${session.agent} · started ${age(session.createdAt)} ago · link expires in ${age(session.linkExpiresAt)}`,
  );
  const terminalHost = el('section', { class: 'terminal-page' });
  const filesHost = el('section', { class: 'files-page' });
  replaceChildren(frame.main, el('div', { class: 'page-head' }, el('h1', { text: session.label }), facts), terminalHost, filesHost);

  renderTerminalView(terminalHost, {
    readonly: true,
    url: (offset, cols, rows) => connectUrl(SHARE_CONNECT_PATH, offset, cols, rows),
    // The API answers with `catty-share`; a browser fails a connection answered with a
    // subprotocol it did not offer, so both are offered.
    protocols: [SHARE_SUBPROTOCOL, `${SHARE_SUBPROTOCOL}.${token}`],
    probe: async () => {
      try {
        const now = await api.call(routes.shareSession);
        const running = now.status === 'running' || now.status === 'provisioning';
        return { running, reason: running ? undefined : `The session is ${STATUS_TEXT[now.status]}.` };
      } catch (err) {
        const code = errorCode(err);
        return code === 'unauthorized' || code === 'not_found' ? { running: false, reason: GONE } : null;
      }
    },
  });
  mountFiles(filesHost, {
    tree: () => api.call(routes.shareFiles),
    diff: (path) => api.call(routes.shareFileDiff, { body: { path } }),
  });
}
