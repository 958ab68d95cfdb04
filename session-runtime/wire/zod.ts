/**
 * The one place zod is imported from: `zod/mini`, the tree-shakable build of zod 4, with English
 * messages. Classic `zod` costs every process that loads it ~60–80 ms at start (an esbuild bundle
 * of a one-field object schema is ~750 KB); the same with `zod/mini` is ~30 KB and ~4 ms. Same
 * validation core, so the same schemas accept and reject the same inputs.
 *
 * Import it as a namespace — `import * as z from '<path>/session-runtime/wire/zod.js'` — and use the
 * functional API (`z.optional(X)`, `X.check(z.maxLength(n))`, `z.extend(A, shape)`, …). Do not
 * re-export a namespace object (`export { z }`): esbuild then keeps all of zod/mini, every locale
 * included (~700 KB again), where named exports let it drop what nothing uses. The gain is in the
 * esbuild bundles (scripts/bundle.mjs: the CLI, the runtime); unbundled, Node still loads ~90 of
 * zod's files either way, every locale included.
 *
 * zod/mini loads no locale by itself (every issue would read just "Invalid input"); the English
 * one is configured here, once, for the whole process — the messages classic zod gives.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
