/** Every command, registered in the order `catty --help` lists them, with its examples; an unknown
 * one gets a suggestion only when it looks like a typo. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import * as newCmd from './new.js';
import * as connect from './connect.js';
import * as list from './list.js';
import * as stop from './stop.js';
import * as download from './download.js';
import * as resume from './resume.js';
import * as fork from './fork.js';
import * as gitCmd from './git.js';
import * as logs from './logs.js';
import * as openCmd from './open.js';
import * as share from './share.js';
import * as secrets from './secrets/index.js';
import * as server from './server.js';
import * as login from './login.js';
import * as logout from './logout.js';
import * as version from './version.js';
import { addExamples } from './examples.js';
import { suggestCommands } from './suggest.js';

export function registerCommands(program: Command, run: Runner): void {
  for (const command of [newCmd, connect, list, stop, resume, fork, download, gitCmd, logs, openCmd, share, secrets, server, login, logout, version]) {
    command.register(program, run);
  }
  addExamples(program);
  suggestCommands(program);
}
