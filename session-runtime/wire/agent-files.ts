/**
 * File helpers for the agents' home seeding (agent-*.ts): merge catty's settings into a JSON file
 * the agent may already have, keeping the rest; write private files (0600, directories 0700).
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export type JsonObject = Record<string, unknown>;

export function asObject(value: unknown): JsonObject {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : {};
}

export async function readJsonObject(file: string): Promise<JsonObject> {
  try {
    return asObject(JSON.parse(await fs.readFile(file, 'utf8')));
  } catch {
    return {};
  }
}

/** Writes `text` to `file` (0600), making its directory (0700) first. */
export async function writePrivate(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await fs.writeFile(file, text, { mode: 0o600 });
}

/** Reads the JSON object in `file` (none: {}), lets `change` edit it, writes it back. */
export async function mergeJson(file: string, change: (value: JsonObject) => void): Promise<void> {
  const value = await readJsonObject(file);
  change(value);
  await writePrivate(file, JSON.stringify(value, null, 2) + '\n');
}
