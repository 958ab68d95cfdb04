/**
 * A signed-in user's session: its terminal (/app/s/<label>) or its files (/app/s/<label>/files),
 * with a breadcrumb to switch between them.
 */
import { fillPath, routes, WEB_CONNECT_PATH } from '../../contract/routes.js';
import { errorCode, userApi } from './api.js';
import { appLink, el, replaceChildren } from './dom.js';
import { STATUS_TEXT } from './format.js';
import { mountFiles } from './files-mount.js';
import type { Frame } from './shell.js';
import { renderTerminalView } from './terminal/view.js';
import { connectUrl } from './ws-url.js';

export function renderSessionPage(frame: Frame, label: string, tab: 'terminal' | 'files'): () => void {
  replaceChildren(
    frame.crumbs,
    appLink([], 'Sessions'),
    el('span', { class: 'sep', text: '/' }),
    el('span', { class: 'crumb-label', text: label }),
    el('span', { class: 'sep', text: '/' }),
    tab === 'terminal' ? el('span', { class: 'crumb-tab', text: 'Terminal' }) : appLink(['s', label], 'Terminal'),
    el('span', { class: 'sep', text: '·' }),
    tab === 'files' ? el('span', { class: 'crumb-tab', text: 'Files' }) : appLink(['s', label, 'files'], 'Files'),
  );
  const host = el('section', { class: tab === 'terminal' ? 'terminal-page' : 'files-page' });
  replaceChildren(frame.main, host);
  if (tab === 'files') {
    return mountFiles(host, {
      tree: () => userApi.call(routes.sessionFiles, { params: { ref: label } }),
      diff: (path) => userApi.call(routes.sessionFileDiff, { params: { ref: label }, body: { path } }),
    });
  }
  return renderTerminalView(host, {
    readonly: false,
    url: (offset, cols, rows) => connectUrl(fillPath(WEB_CONNECT_PATH, { ref: label }), offset, cols, rows),
    probe: async () => {
      try {
        const session = await userApi.call(routes.getSession, { params: { ref: label } });
        const running = session.status === 'running' || session.status === 'provisioning';
        return { running, reason: running ? undefined : `The session is ${STATUS_TEXT[session.status]}.` };
      } catch (err) {
        const code = errorCode(err);
        if (code === 'not_found') return { running: false, reason: `There is no session ${label}.` };
        if (code === 'unauthorized') return { running: false, reason: 'Signed out: run catty open to sign in again.' };
        return null;
      }
    },
  });
}
