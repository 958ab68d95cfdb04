import type { Context } from 'hono';
import type * as z from '../../session-runtime/wire/zod.js';
import { badRequest } from '../errors.js';

/** Parses the JSON body with `schema`; malformed JSON, wrong types or unknown fields → 400.
 * An empty body counts as `{}` so routes whose fields are all optional accept none. */
export async function jsonBody<S extends z.ZodMiniType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch {
      throw badRequest('request body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(`invalid request body: ${summarize(parsed.error)}`);
  return parsed.data;
}

function summarize(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
