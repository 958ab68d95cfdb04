/**
 * The API's route table (api/contract/routes.ts) read backwards, for the tests' fake servers: a
 * method and path in, the route's name and path parameters out. A fake that dispatches on the
 * name follows a renamed or moved route without a grep.
 */
import { routes, type RouteName } from '../../api/contract/routes.js';

export interface MatchedRoute {
  name: RouteName;
  /** Decoded path parameters, e.g. `{ ref: 'calm-otter-0001' }`. */
  params: Record<string, string>;
}

const matchers = Object.entries(routes).map(([name, route]) => {
  const names: string[] = [];
  const source = route.path.replace(/:([A-Za-z]+)/g, (_, param: string) => {
    names.push(param);
    return '([^/]+)';
  });
  return { name: name as RouteName, method: route.method as string, regex: new RegExp(`^${source}$`), names };
});

export function matchRoute(method: string | undefined, pathname: string): MatchedRoute | null {
  for (const m of matchers) {
    if (m.method !== method) continue;
    const found = m.regex.exec(pathname);
    if (found) return { name: m.name, params: Object.fromEntries(m.names.map((n, i) => [n, decodeURIComponent(found[i + 1]!)])) };
  }
  return null;
}
