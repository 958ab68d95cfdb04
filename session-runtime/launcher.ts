#!/usr/bin/env node
/**
 * Starts `catty-session` with its secret settings (connect and machine tokens, agent command and
 * environment) read from stdin instead of the exec environment — the local provisioner's and the
 * session image's entry point (infra/catty-session.sh) both start it so. Variables set here live
 * only in the process's heap: /proc/<pid>/environ shows just the non-secret ones. The heap itself
 * is kept from the agent (the same uid) by an execute-only node, which makes this process
 * non-dumpable (api/provisioners/exec-only-node.ts; SECURITY.md 37).
 *
 * The runtime's code is loaded before the settings are read (bin.ts starts only when told), so a
 * warm spare (local.ts) — this process started ahead of a session, waiting on stdin — has done
 * that work already when its session comes; an empty stdin means it was not needed.
 *
 *   node launcher.js <runtime bin.js>    stdin: {"CATTY_CONNECT_TOKEN": "...", ...}
 */
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { niceAutogroup } from './priority.js';
import { LAUNCHER_WAITING_LINE, LauncherEnv } from './wire/runtime-env.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const bin = process.argv[2];
if (!bin) {
  process.stderr.write('runtime-launcher: usage: runtime-launcher <runtime bin.js>\n');
  process.exitCode = 2;
} else {
  const nice = Number(process.env[LauncherEnv.nice]);
  if (Number.isInteger(nice) && nice > 0) {
    try {
      os.setPriority(0, nice);
    } catch (err) {
      process.stderr.write(`runtime-launcher: cannot lower the priority to ${nice}: ${(err as Error).message}\n`);
    }
    // The machine is a session of its own, which Linux may schedule as a group: nice the group.
    niceAutogroup('self', nice, (message) => process.stderr.write(`runtime-launcher: ${message}\n`));
  }
  const runtime = (await import(pathToFileURL(bin).href)) as { start(): void };
  // Inside the sandbox, set up: a spare can be handed a session (and its directory renamed).
  process.stdout.write(`${LAUNCHER_WAITING_LINE}\n`);
  const input = await readStdin();
  // stdin was a pipe from the API; leave nothing tied to it.
  process.stdin.destroy();
  // Empty: a spare whose API went away (or let it go) before handing it a session; it just ends.
  if (input.trim() !== '') {
    const secrets = JSON.parse(input) as Record<string, unknown>;
    for (const [name, value] of Object.entries(secrets)) {
      if (typeof value === 'string' && name.startsWith('CATTY_')) process.env[name] = value;
    }
    runtime.start();
  }
}
