/** The Hono app: middleware, then the routes of each resource. No socket here: tests call
 * `app.request()`; server.ts serves it. */
import { Hono } from 'hono';
import type { AppEnv, Deps } from './deps.js';
import { bodyLimit } from './middleware/body-limit.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { requestId } from './middleware/request-id.js';
import { authRoutes } from './routes/auth.js';
import { devicePageRoutes } from './routes/device-page.js';
import { fileRoutes } from './routes/files.js';
import { runtimeRoutes } from './routes/runtime.js';
import { sessionRoutes } from './routes/sessions.js';
import { shareRoutes } from './routes/shares.js';
import { signInLinkRoutes, webRoutes } from './routes/web.js';
import { registrar, reply } from './routes/register.js';
import { APP_PREFIX, routes } from './contract/routes.js';
import { appPageRoutes } from './web/serve.js';

/** JSON bodies are small: the biggest is a 64 KiB log upload (base64) or a set of secrets. */
export const MAX_BODY_BYTES = 1024 * 1024;

export function createApp(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requestId({ logger: deps.logger }));
  app.use('*', bodyLimit({ maxBytes: MAX_BODY_BYTES }));
  app.onError(errorHandler({ logger: deps.logger }));
  app.notFound(notFoundHandler);

  // The JSON API, registered from the contract's route table (api/contract/routes.ts).
  registrar(app, deps)(routes.health, (c) => reply(c, routes.health, { ok: true }));
  authRoutes(app, deps);
  sessionRoutes(app, deps);
  runtimeRoutes(app, deps);
  // The browser view's JSON routes (issue 24): its sign-in, files, share links.
  webRoutes(app, deps);
  fileRoutes(app, deps);
  shareRoutes(app, deps);
  // The browser's sign-in pages (HTML forms, not part of the JSON contract).
  app.route('/device', devicePageRoutes(deps));
  // The browser view: the one-time sign-in link first, then the page under /app.
  app.route('/', signInLinkRoutes(deps));
  app.route(APP_PREFIX, appPageRoutes(deps));
  return app;
}
