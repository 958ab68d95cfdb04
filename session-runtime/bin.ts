#!/usr/bin/env node
/**
 * catty-session: the daemon inside each session machine. Thin: config, start, signals, exit.
 *
 * Run as the process's entry point, it starts at once. Imported instead — by the API's
 * the launcher (launcher.ts), which loads the runtime's code while a spare machine waits for a session —
 * it only loads, and starts when `start()` is called (after the session's settings are in
 * process.env: nothing is read from it before).
 */
import './v8-flags.js';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from './config.js';
import { startRuntime } from './runtime.js';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`catty-session: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const runtime = await startRuntime(config, {
    env: process.env,
    log: (line) => process.stderr.write(`catty-session: ${line}\n`),
  });
  process.stdout.write(`${runtime.readyLine}\n`);
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`catty-session: ${signal}, shutting down\n`);
    void runtime.stop('session stopped');
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, onSignal);
  await runtime.done;
  return 0;
}

/** Runs the runtime until its session ends, then exits the process. */
export function start(): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`catty-session: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) start();
