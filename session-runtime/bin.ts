#!/usr/bin/env node
/** catty-session: the daemon inside each session machine. Thin: config, start, signals, exit. */
import './v8-flags.js';
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

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`catty-session: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
