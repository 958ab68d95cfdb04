/**
 * What the page's bundle gets for the node: built-ins that the API's contract reaches through
 * the seam (session-runtime/wire/: path handling for agents and workspace paths, IDN host names
 * for network rules). scripts/bundle.mjs points every `node:*` import here. The page only parses
 * answers with the contract's schemas; the one built-in a schema calls while parsing is
 * `domainToASCII` (a session's network rules), which the WHATWG URL parser gives the same way;
 * anything else throws, saying it is not for the browser.
 */

function notInTheBrowser(name: string): never {
  throw new Error(`${name} is not available in the browser page`);
}

/** node:url's domainToASCII: '' for a name the WHATWG host parser refuses, like Node's. */
export function domainToASCII(domain: string): string {
  // Characters that would end the host inside a URL: Node refuses such a name, so do we.
  if (/[/\\?#@:%\s]/.test(domain)) return '';
  try {
    return new URL(`http://${domain}/`).hostname;
  } catch {
    return '';
  }
}

const anything: Record<string, unknown> = new Proxy(
  {},
  {
    get: (_target, key) => (key === 'domainToASCII' ? domainToASCII : () => notInTheBrowser(`node built-in ${String(key)}`)),
  },
);

export default anything;
