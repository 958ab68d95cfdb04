/**
 * The page's DOM helpers. Everything the page shows that a session machine wrote (labels, file
 * names, terminal bytes, error messages relayed from it) reaches the DOM only as `textContent`
 * of elements made here: no innerHTML anywhere, no attribute a browser acts on built from data
 * (an href is built by {@link appLink} from a path this code composes, its parts URI-encoded).
 */

type Child = Node | string | null | undefined | false;

export interface ElementOptions {
  /** Class names (trusted strings from this code). */
  class?: string;
  /** Text content (any string: it is never parsed). */
  text?: string;
  /** Plain attributes that carry no URL and no script (aria-*, role, type, data-*). */
  attrs?: Record<string, string>;
}

const SAFE_ATTRIBUTE = /^(aria-[a-z]+|role|type|data-[a-z-]+|title|id|for|colspan|tabindex|hidden|disabled|autocomplete)$/;

/** A new element: `el('button', { class: 'primary', text: 'Stop' })`, children appended in order. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, options: ElementOptions = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.class) node.className = options.class;
  for (const [name, value] of Object.entries(options.attrs ?? {})) {
    if (!SAFE_ATTRIBUTE.test(name)) throw new Error(`el(): attribute ${name} is not one the page sets from code`);
    node.setAttribute(name, value);
  }
  if (options.text !== undefined) node.textContent = options.text;
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces a node's children. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A link to a page of this app: `appLink(['s', label, 'files'], 'Files')` → /app/s/<label>/files. */
export function appLink(segments: readonly string[], text: string, className?: string): HTMLAnchorElement {
  const a = el('a', { class: className, text });
  a.href = appPath(segments);
  return a;
}

export function appPath(segments: readonly string[]): string {
  return `/app/${segments.map((s) => encodeURIComponent(s)).join('/')}`;
}

/** A button that runs `action` on click and is disabled while it runs. */
export function button(text: string, action: (btn: HTMLButtonElement) => unknown, className?: string): HTMLButtonElement {
  const btn = el('button', { class: className, text, attrs: { type: 'button' } });
  btn.addEventListener('click', () => {
    if (btn.disabled) return;
    btn.disabled = true;
    void Promise.resolve()
      .then(() => action(btn))
      .finally(() => {
        btn.disabled = false;
      });
  });
  return btn;
}
