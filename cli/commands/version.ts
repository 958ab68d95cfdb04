import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { print, type Runner } from '../context.js';
import { PROTOCOL_VERSION } from '../../session-runtime/wire/protocol.js';

export function register(program: Command, run: Runner): void {
  program
    .command('version')
    .description('print the catty version')
    .action(
      run(async (ctx) => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ctx.packageRoot, 'package.json'), 'utf8')) as { version?: string };
        print(ctx.stdout, `catty ${pkg.version ?? 'unknown'} (protocol ${PROTOCOL_VERSION}, node ${process.version})`);
      }),
    );
}
