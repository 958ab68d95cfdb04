/**
 * Handlers are registered from the contract's route table (api/contract/routes.ts): the method
 * and path come from the table, the auth middleware from the route's `auth`, and the answer is
 * typed by the route's response schema — so the server and every client agree by construction.
 */
import type { Context, Hono } from 'hono';
import type { AnyRoute, ResponseOf, Route } from '../contract/routes.js';
import type { AppEnv, Deps } from '../deps.js';
import { requireMachine, requireShare, requireUser, requireWeb } from '../middleware/auth.js';

export type RouteContext<R extends Route> = Context<AppEnv, R['path']>;
export type RouteHandler<R extends Route> = (c: RouteContext<R>) => Response | Promise<Response>;

/** `on(route, handler)` for one app; the handler runs after the route's auth passed. */
export function registrar(app: Hono<AppEnv>, deps: Pick<Deps, 'db' | 'now'>) {
  const guards = { user: requireUser(deps), web: requireWeb(deps), share: requireShare(deps), machine: requireMachine(deps) };
  return function on<R extends AnyRoute>(route: R, handler: RouteHandler<R>): void {
    if (route.auth === 'none') app.on(route.method, route.path, handler);
    else app.on(route.method, route.path, guards[route.auth], handler);
  };
}

/** The route's success answer (its status, default 200), typed by its response schema. */
export function reply<R extends Route>(c: Context, route: R, body: ResponseOf<R>): Response {
  return c.json(body as object, route.status ?? 200);
}
