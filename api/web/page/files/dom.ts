/**
 * DOM helpers for the files view. Everything shown here was written by the session machine (file
 * names, file contents), and the page runs on the origin that holds the sign-in cookie, so text
 * reaches the DOM only through `textContent` of elements this module creates: never innerHTML,
 * never an attribute a browser would act on (href, src, style, on*).
 *
 * Characters that change how text *looks* without being seen — bidi overrides and isolates
 * (U+202A–202E, U+2066–2069: "Trojan Source", a name `exe.txt` that shows as `txt.exe`),
 * zero-width characters, C0/C1 controls and line/paragraph separators — are shown as a visible
 * `U+202E` badge instead of being passed to the layout engine. Escaping (rather than only
 * `unicode-bidi: isolate`) is the choice because isolation keeps an override from leaking into
 * the rest of the row but still reverses the name inside it: the reader would see a name that is
 * not the one on disk. Tabs are kept (code is indented with them); a newline inside a file name
 * is escaped like the rest.
 */

/** Invisible or layout-changing code points shown as badges (tab excluded: code uses it). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const INVISIBLE = /[\u0000-\u0008\u000A-\u001F\u007F-\u009F\u00AD\u061C\u115F\u1160\u180E\u200B-\u200F\u2028-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0\uFFF9-\uFFFB]/u;
const INVISIBLE_GLOBAL = new RegExp(INVISIBLE.source, 'gu');

/** A new element with optional class names (trusted strings from this code, never content). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** `U+202E` for one code point. */
export function codePointLabel(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Appends untrusted `text` to `parent` as text nodes, invisible characters as visible badges
 * (see the header). `className`, when given, wraps the text in one span of that class.
 */
export function appendText(parent: Node, text: string, className?: string): void {
  const target = className ? parent.appendChild(el('span', className)) : parent;
  if (!INVISIBLE.test(text)) {
    target.appendChild(document.createTextNode(text));
    return;
  }
  let last = 0;
  for (const match of text.matchAll(INVISIBLE_GLOBAL)) {
    if (match.index > last) target.appendChild(document.createTextNode(text.slice(last, match.index)));
    const badge = el('span', 'fv-esc', codePointLabel(match[0]));
    badge.title = `invisible character ${codePointLabel(match[0])}`;
    target.appendChild(badge);
    last = match.index + match[0].length;
  }
  if (last < text.length) target.appendChild(document.createTextNode(text.slice(last)));
}

/** A plain-text form of `text` with invisible characters written as `<U+202E>` (for titles). */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE_GLOBAL, (char) => `<${codePointLabel(char)}>`);
}

/** 1536 → "1.5 KiB". */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** A button with a label; `onClick` runs on click. */
export function button(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const node = el('button', className, label);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}
