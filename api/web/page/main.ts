/**
 * The browser view's entry point (bundled by scripts/bundle.mjs into dist/web/, served by
 * api/web/serve.ts under /app). One shell for every URL; this picks the page from the path:
 *   /app/                   sessions            (signed in)
 *   /app/s/<label>          a session's terminal (signed in)
 *   /app/s/<label>/files    a session's files    (signed in)
 *   /app/share#<token>      a share link         (no account)
 * Navigation between pages is ordinary links: each page loads on its own (the bundle is
 * cached), which keeps every page's state its own. The terminal and files pages are imported
 * when shown (esbuild chunks): the sessions page paints without parsing xterm.
 */
import '@xterm/xterm/css/xterm.css';
import './style.css';
import { errorText, signedInUser } from './api.js';
import { renderFrame, renderMessage, renderSignedOut } from './shell.js';
import { renderSessions } from './sessions.js';

type Route = { page: 'sessions' } | { page: 'session'; label: string; tab: 'terminal' | 'files' } | { page: 'share' } | { page: 'unknown' };

export function routeOf(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean);
  if (parts[0] !== 'app') return { page: 'unknown' };
  if (parts.length === 1) return { page: 'sessions' };
  if (parts[1] === 'share' && parts.length === 2) return { page: 'share' };
  if (parts[1] === 's' && parts[2] && parts.length <= 4) {
    let label: string;
    try {
      label = decodeURIComponent(parts[2]);
    } catch {
      return { page: 'unknown' };
    }
    if (parts.length === 3) return { page: 'session', label, tab: 'terminal' };
    if (parts[3] === 'files') return { page: 'session', label, tab: 'files' };
  }
  return { page: 'unknown' };
}

async function start(root: HTMLElement): Promise<void> {
  const route = routeOf(window.location.pathname);
  if (route.page === 'share') {
    const { renderShare } = await import('./share.js');
    return renderShare(renderFrame(root, { share: true }));
  }
  // Fetched while the API says who is signed in.
  const sessionPage = route.page === 'session' ? import('./session-page.js') : null;
  let me;
  try {
    me = await signedInUser();
  } catch (err) {
    return renderMessage(renderFrame(root, null).main, 'catty', errorText(err));
  }
  if (!me) return renderSignedOut(root);
  const frame = renderFrame(root, me);
  if (route.page === 'sessions') renderSessions(frame.main);
  else if (route.page === 'session') {
    const { renderSessionPage } = await sessionPage!;
    renderSessionPage(frame, route.label, route.tab);
  }
  else renderMessage(frame.main, 'Not found', 'There is no such page. Sessions are listed at /app/.');
}

const root = document.getElementById('app');
if (root) void start(root);
