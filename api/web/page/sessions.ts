/**
 * The sessions page (/app/): every session of the signed-in user with its status, agent, age,
 * provisioner, network policy and last snapshot, and what can be done with it — open its
 * terminal or files, stop, download its latest snapshot, resume, fork. Refreshed every few
 * seconds while the tab is visible. A resume or fork of a session that had secrets is refused
 * by the API (`secrets_required`, the browser never holds secrets); its message, which names the
 * `catty resume` line to run, is shown as it is.
 */
import { routes } from '../../contract/routes.js';
import type { Session } from '../../contract/schemas.js';
import { errorText, userApi } from './api.js';
import { appLink, appPath, button, el, replaceChildren } from './dom.js';
import { age, isEnded, networkSummary, STATUS_TEXT } from './format.js';

const REFRESH_MS = 3000;
const CONFIRM_MS = 4000;

export function renderSessions(main: HTMLElement): () => void {
  const notice = el('p', { class: 'notice', attrs: { role: 'status', 'aria-live': 'polite' } });
  const list = el('div', { class: 'sessions' });
  replaceChildren(main, el('div', { class: 'page-head' }, el('h1', { text: 'Sessions' })), notice, list);

  let busy = 0;
  let stopped = false;
  let timer: number | undefined;
  let loadedOnce = false;
  /** The last refresh failed: its message is the notice, cleared when a refresh works again. */
  let listFailed = false;

  const say = (text: string, kind: 'info' | 'error' = 'info', link?: HTMLAnchorElement) => {
    notice.className = `notice ${kind}`;
    replaceChildren(notice, text || null, link ? ' ' : null, link);
  };

  /** Runs an action with the list frozen (a refresh would rebuild the button being pressed). */
  const act = async (work: () => Promise<void>) => {
    busy++;
    try {
      await work();
    } catch (err) {
      say(errorText(err), 'error');
    } finally {
      busy--;
    }
    await refresh();
  };

  const actionsFor = (s: Session): HTMLElement => {
    const actions = el('div', { class: 'actions' });
    const live = s.status === 'running' || s.status === 'provisioning';
    if (live) actions.append(appLink(['s', s.label], 'Open', 'btn primary'));
    if (s.status === 'running') actions.append(appLink(['s', s.label, 'files'], 'Files', 'btn'));
    if (live) {
      actions.append(
        button('Stop', async (btn) => {
          if (btn.dataset.confirm !== '1') {
            btn.dataset.confirm = '1';
            btn.textContent = 'Stop: sure?';
            window.setTimeout(() => {
              btn.dataset.confirm = '';
              btn.textContent = 'Stop';
            }, CONFIRM_MS);
            return;
          }
          await act(async () => {
            await userApi.call(routes.stop, { params: { ref: s.label } });
            say(`Stopped ${s.label}.`);
          });
        }, 'danger'),
      );
    }
    if (s.lastSnapshotAt) {
      actions.append(
        button('Download', () =>
          act(async () => {
            const info = await userApi.call(routes.download, { params: { ref: s.label } });
            say(`Downloading the snapshot of ${s.label} (${Math.ceil(info.size / 1024)} KiB)…`);
            window.location.assign(info.url);
          }),
        ),
      );
    }
    if (isEnded(s.status) && s.resumable) {
      actions.append(
        button('Resume', () =>
          act(async () => {
            const resumed = await userApi.call(routes.resume, { params: { ref: s.label }, body: {} });
            window.location.assign(appPath(['s', resumed.label]));
          }),
        ),
      );
    }
    if (s.lastSnapshotAt || s.status === 'running') {
      actions.append(
        button('Fork', () =>
          act(async () => {
            const forked = await userApi.call(routes.fork, { params: { ref: s.label }, body: {} });
            say(`Forked ${s.label} into ${forked.label}.`, 'info', appLink(['s', forked.label], 'Open it'));
          }),
        ),
      );
    }
    return actions;
  };

  const field = (name: string, value: string, className?: string) => el('div', { class: `field ${className ?? ''}` }, el('span', { class: 'name', text: name }), el('span', { class: 'value', text: value }));

  const card = (s: Session): HTMLElement => {
    const ended = isEnded(s.status);
    const title = ended ? el('span', { class: 'label', text: s.label }) : appLink(['s', s.label], s.label, 'label');
    const status = el('span', { class: `status status-${s.status}`, text: STATUS_TEXT[s.status] });
    const agent = s.cmd ? `${s.agent} (command)` : s.agent;
    return el(
      'article',
      { class: `session${ended ? ' ended' : ''}`, attrs: { 'data-label': s.label } },
      el('header', {}, title, status),
      el(
        'div',
        { class: 'fields' },
        field('agent', agent),
        field('age', age(s.createdAt)),
        field('provisioner', s.provisioner),
        field('network', networkSummary(s.network)),
        field('last snapshot', s.lastSnapshotAt ? `${age(s.lastSnapshotAt)} ago` : 'none'),
        s.detail && ended ? field('detail', s.detail, 'wide') : null,
      ),
      actionsFor(s),
    );
  };

  async function refresh(): Promise<void> {
    if (stopped || busy > 0) return;
    try {
      const { sessions } = await userApi.call(routes.listSessions);
      if (busy > 0 || stopped) return;
      const sorted = [...sessions].sort((a, b) => Number(isEnded(a.status)) - Number(isEnded(b.status)) || b.createdAt.localeCompare(a.createdAt));
      if (sorted.length === 0) replaceChildren(list, el('p', { class: 'empty', text: 'No sessions yet. Start one with: catty new' }));
      else replaceChildren(list, ...sorted.map(card));
      if (!loadedOnce) {
        list.dataset.loaded = '1';
        // What the first-paint figure is read against (tests/browser/terminal.test.ts).
        performance.mark('catty:sessions-listed');
      }
      loadedOnce = true;
      if (listFailed) say('');
      listFailed = false;
    } catch (err) {
      listFailed = true;
      say(errorText(err), 'error');
    }
  }

  const tick = () => {
    window.clearTimeout(timer);
    if (stopped) return;
    timer = window.setTimeout(() => {
      if (!document.hidden) void refresh().finally(tick);
      else tick();
    }, REFRESH_MS);
  };
  const onVisible = () => {
    if (!document.hidden) void refresh();
  };
  document.addEventListener('visibilitychange', onVisible);
  void refresh().finally(tick);

  return () => {
    stopped = true;
    window.clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}
