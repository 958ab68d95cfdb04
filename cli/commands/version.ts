/** `catty version [--json]` (and `catty --version`). */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { print, type Runner } from '../context.js';
import { PROTOCOL_VERSION } from '../../session-runtime/wire/protocol.js';

export function register(program: Command, run: Runner): void {
  program
    .command('version')
    .description('print the catty version')
    .option('--json', 'print {version, protocol, node} as JSON')
    .action(
      run(async (ctx, opts: { json?: boolean }) => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ctx.packageRoot, 'package.json'), 'utf8')) as { version?: string };
        const version = pkg.version ?? 'unknown';
        if (opts.json) print(ctx.stdout, JSON.stringify({ version, protocol: PROTOCOL_VERSION, node: process.version }, null, 2));
        else print(ctx.stdout, `catty ${version} (protocol ${PROTOCOL_VERSION}, node ${process.version})`);
      }),
    );
}
