/**
 * The frame around every page: a header with the app's name, the navigation and, signed in, the
 * user's email and a sign-out button; and the page for a browser that is not signed in, which
 * says how to get in (`catty open`, or the /device sign-in page).
 */
import { routes } from '../../contract/routes.js';
import { errorText, userApi } from './api.js';
import { button, el, replaceChildren } from './dom.js';

export interface Frame {
  /** Where the page renders. */
  main: HTMLElement;
  /** The header's middle: a page puts its breadcrumb here. */
  crumbs: HTMLElement;
}

export function renderFrame(root: HTMLElement, who: { email: string } | { share: true } | null): Frame {
  const brand = el('a', { class: 'brand', text: 'catty' });
  brand.href = '/app/';
  const crumbs = el('nav', { class: 'crumbs', attrs: { 'aria-label': 'Where you are' } });
  const right = el('div', { class: 'who' });
  if (who && 'email' in who) {
    right.append(
      el('span', { class: 'email', text: who.email }),
      button('Sign out', async () => {
        try {
          await userApi.call(routes.webLogout);
          renderSignedOut(root, 'You are signed out.');
        } catch (err) {
          window.alert(errorText(err));
        }
      }),
    );
  } else if (who && 'share' in who) {
    right.append(el('span', { class: 'badge', text: 'Read-only share link' }));
  }
  const main = el('main', { class: 'page' });
  replaceChildren(root, el('header', { class: 'top' }, brand, crumbs, right), main);
  return { main, crumbs };
}

export function renderSignedOut(root: HTMLElement, headline = 'You are not signed in.'): void {
  const { main } = renderFrame(root, null);
  const device = el('a', { text: 'sign in on the device page' });
  device.href = '/device';
  replaceChildren(
    main,
    el(
      'section',
      { class: 'signed-out' },
      el('h1', { text: headline }),
      el('p', { text: 'To open this page signed in, run this on the machine where catty is logged in:' }),
      el('pre', { class: 'command', text: 'catty open' }),
      el('p', {}, 'Or ', device, ', then come back here.'),
    ),
  );
}

export function renderMessage(main: HTMLElement, title: string, text: string): void {
  replaceChildren(main, el('section', { class: 'message' }, el('h1', { text: title }), el('p', { text })));
}
