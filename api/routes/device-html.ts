/** The /device page's HTML. `html` escapes every interpolated value. */
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const STYLE = `body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
.code{font-family:monospace;font-size:1.6rem;letter-spacing:.15rem}button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem;font-size:1rem}
.error{color:#b00020}`;

export function page(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · catty</title><style>${raw(STYLE)}</style></head>
<body><h1>${title}</h1>${body}</body></html>`;
}

export function signInForm(o: { code: string; csrf: string; error?: string }): Html {
  return html`${o.error ? html`<p class="error" role="alert">${o.error}</p>` : ''}
<form method="post" action="/device/login">
<input type="hidden" name="csrf" value="${o.csrf}"><input type="hidden" name="code" value="${o.code}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>`;
}

export function approveForm(o: { code: string; csrf: string; email: string; error?: string }): Html {
  return html`<p>Signed in as <strong>${o.email}</strong>.</p>
${o.error ? html`<p class="error" role="alert">${o.error}</p>` : ''}
<p>Check that this code matches the one in your terminal, then approve the sign-in.</p>
<form method="post" action="/device/decide">
<input type="hidden" name="csrf" value="${o.csrf}">
<label for="code">Code</label><input id="code" class="code" name="code" value="${o.code}" autocomplete="off" required>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button></form>`;
}

export function message(text: string): Html {
  return html`<p role="status">${text}</p>`;
}
