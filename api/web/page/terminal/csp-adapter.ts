/**
 * xterm.js under the page's strict CSP (`style-src 'self'`, nothing inline; api/web/serve.ts).
 *
 * xterm 6's DOM renderer puts what it measures and the theme into `<style>` elements it creates,
 * and 24-bit colours into `style` attributes it sets with setAttribute: the CSP blocks both (a
 * hash cannot cover CSS written at run time, and 'unsafe-inline' would let any injected markup
 * restyle the page). What the CSP does not govern is the CSSOM, which only this origin's scripts
 * reach. So:
 * - the text of those `<style>` elements is copied into a constructable stylesheet adopted by the
 *   document, every time xterm changes it (the blocked elements stay inert; Chromium logs a CSP
 *   report for each, which is the CSP doing its job);
 * - a span's `setAttribute('style', css)` becomes `span.style.cssText = css` (xterm builds each
 *   cell as a span). Markup a parser inserts still meets the CSP: no innerHTML in this page, and
 *   a style attribute that came in some other way would stay blocked.
 */

let spansPatched = false;

function patchSpanStyleAttribute(): void {
  if (spansPatched) return;
  spansPatched = true;
  const setAttribute = Element.prototype.setAttribute;
  Object.defineProperty(HTMLSpanElement.prototype, 'setAttribute', {
    configurable: true,
    writable: true,
    value: function (this: HTMLSpanElement, name: string, value: string): void {
      if (name.toLowerCase() === 'style') {
        this.style.cssText = value;
        return;
      }
      setAttribute.call(this, name, value);
    },
  });
}

/** Call before `terminal.open(container)`; the returned function undoes it. */
export function adaptXtermToCsp(container: HTMLElement): () => void {
  patchSpanStyleAttribute();
  const sheet = new CSSStyleSheet();
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  let copied = '';
  const copy = (): void => {
    const text = [...container.querySelectorAll('style'), ...document.head.querySelectorAll('style')].map((s) => s.textContent ?? '').join('\n');
    if (text === copied) return;
    copied = text;
    sheet.replaceSync(text);
  };
  const observer = new MutationObserver(copy);
  observer.observe(container, { subtree: true, childList: true, characterData: true });
  observer.observe(document.head, { subtree: true, childList: true, characterData: true });
  return () => {
    observer.disconnect();
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
  };
}
