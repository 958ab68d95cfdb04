import type { Command } from 'commander';
import type { Runner } from '../../context.js';
import * as set from './set.js';
import * as list from './list.js';
import * as rm from './rm.js';

export function register(program: Command, run: Runner): void {
  const secrets = program.command('secrets').description('secrets for the agent, encrypted on this machine');
  set.register(secrets, run);
  list.register(secrets, run);
  rm.register(secrets, run);
}
