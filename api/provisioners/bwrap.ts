/**
 * The bubblewrap sandbox for one local session (SECURITY.md 37): a user namespace mapped to
 * uid/gid 1000 with every capability dropped, private mount/pid/ipc/uts(/cgroup) namespaces,
 * the system read-only, only this session's own directories writable, nothing of the API's data
 * dir or $CATTY_HOME visible; the machine's run directory bound at MACHINE_RUN_DIR, where the
 * runtime listens on a Unix socket; a network namespace of its own (SECURITY.md 38, 39). No
 * --die-with-parent: the machine must outlive an API restart (--new-session instead keeps it off
 * the API's terminal). The environment is not on this command line (it would show in `ps`):
 * bwrap is spawned with exactly the runtime's environment and passes it on.
 *
 * The runtime's memory is not the agent's (SECURITY.md 37): the runtime runs an execute-only node
 * (exec-only-node.ts), bound read-only at SANDBOX_RUNTIME_NODE, which makes it non-dumpable; and
 * it is the sandbox's pid 1 (--as-pid-1), because bwrap's own reaper there is dumpable and holds
 * the runtime's environment. The price, as in the Docker image: orphans the agent leaves are not
 * reaped until the session ends.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MACHINE_EGRESS_DIR, MACHINE_RUN_DIR } from '../../session-runtime/wire/runtime-env.js';

export interface SandboxPaths {
  /** Host directories bound writable at /workspace, /tmp and /home/agent. */
  workspace: string;
  tmp: string;
  home: string;
  /** The machine's own run directory (0700), bound at MACHINE_RUN_DIR: the runtime's socket. */
  run: string;
  /** Generated /etc/passwd and /etc/group naming the sandbox user. */
  passwdFile: string;
  groupFile: string;
  /** The package root: package.json, dist/ and node_modules/ are bound read-only there. */
  packageRoot: string;
  /** The node binary. */
  nodePath: string;
  /** The session's egress directory (the proxy's socket), bound read-only at MACHINE_EGRESS_DIR. */
  egressDir?: string;
  /** The runtime's execute-only node (exec-only-node.ts), bound read-only at SANDBOX_RUNTIME_NODE. */
  runtimeNode?: string;
}

export const SANDBOX_UID = 1000;
export const SANDBOX_WORKSPACE = '/workspace';
export const SANDBOX_HOME = '/home/agent';
/** Where the runtime's execute-only node is inside (a file on the sandbox's own root). */
export const SANDBOX_RUNTIME_NODE = '/run/runtime-node';

/** Top-level system paths: bound read-only, or re-created as the symlinks they are (merged /usr). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** What programs need from /etc — not all of it: as the API's uid outside, the sandbox would
 * own root's 0600 files (shadow, ssh host keys) if they were visible. */
const ETC_ENTRIES = [
  'alternatives', 'bash.bashrc', 'ca-certificates', 'ca-certificates.conf', 'environment', 'gitconfig', 'host.conf', 'hostname', 'hosts',
  'inputrc', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'locale.alias', 'localtime', 'mime.types', 'nsswitch.conf', 'os-release',
  'profile', 'profile.d', 'protocols', 'resolv.conf', 'services', 'ssl', 'terminfo', 'timezone', 'vim', 'xdg',
];

function bindSystemPath(args: string[], path: string): void {
  if (!existsSync(path)) return;
  const st = lstatSync(path);
  if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
  else args.push('--ro-bind', path, path);
}

export function bwrapArgs(paths: SandboxPaths, argv: string[]): string[] {
  const args = [
    '--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID),
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    // No reaper: bwrap's would be a dumpable process holding the runtime's environment.
    '--as-pid-1',
    // A network namespace of its own: a loopback and nothing of the host's — no listener on any
    // of its addresses, no abstract Unix socket (X11, D-Bus). Out only through the sockets bound
    // in below (the runtime's own route, the egress proxy).
    '--unshare-net',
    '--cap-drop', 'ALL', '--new-session', '--hostname', 'catty',
  ];
  for (const dir of SYSTEM_DIRS) bindSystemPath(args, dir);
  for (const entry of ETC_ENTRIES) bindSystemPath(args, join('/etc', entry));
  args.push('--ro-bind', paths.passwdFile, '/etc/passwd', '--ro-bind', paths.groupFile, '/etc/group');
  args.push(
    '--proc', '/proc',
    '--dev', '/dev',
    '--bind', paths.tmp, '/tmp',
    '--bind', paths.home, SANDBOX_HOME,
    '--bind', paths.workspace, SANDBOX_WORKSPACE,
    // Nothing of the host's /run (its D-Bus, Docker and other sockets) is there: only this.
    '--bind', paths.run, MACHINE_RUN_DIR,
  );
  // The directory, not the socket: a proxy that listens again (a restarted API) is seen at once.
  if (paths.egressDir) args.push('--ro-bind', paths.egressDir, MACHINE_EGRESS_DIR);
  if (paths.runtimeNode) args.push('--ro-bind', paths.runtimeNode, SANDBOX_RUNTIME_NODE);
  // Mounted after the private /tmp and home, which would otherwise hide a checkout or a node
  // that lives under them (a clone in /tmp, nvm in a home directory).
  // node outside /usr (nvm, a tarball install): its directory, read-only.
  const nodeDir = dirname(paths.nodePath);
  if (!nodeDir.startsWith('/usr/') && !nodeDir.startsWith('/bin')) args.push('--ro-bind', nodeDir, nodeDir);
  // Only what the runtime needs of the package, at the same path so module resolution works;
  // never the whole root, which may hold other things (even a data dir).
  for (const entry of ['package.json', 'dist', 'node_modules']) {
    const p = join(paths.packageRoot, entry);
    if (existsSync(p)) args.push('--ro-bind', p, p);
  }
  args.push('--chdir', SANDBOX_WORKSPACE, '--', ...argv);
  return args;
}

export function passwdFor(shell: string): { passwd: string; group: string } {
  return {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nagent:x:${SANDBOX_UID}:${SANDBOX_UID}:catty agent:${SANDBOX_HOME}:${shell}\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\nagent:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`,
  };
}

/** The first `bwrap` on PATH, or null. */
export function findBwrap(pathEnv = process.env.PATH ?? ''): string | null {
  for (const dir of pathEnv.split(':')) {
    if (!dir) continue;
    const candidate = join(dir, 'bwrap');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** bwrap can exist yet fail (no unprivileged user or network namespaces in a container): try
 * it once with the namespaces a session gets. Returns null when it works, else why not. */
export function bwrapProblem(bwrap: string): string | null {
  const res = spawnSync(bwrap, ['--unshare-user', '--uid', String(SANDBOX_UID), '--unshare-pid', '--unshare-net', '--cap-drop', 'ALL', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--', 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (res.status === 0) return null;
  return (res.stderr || res.error?.message || `exit ${res.status}`).trim().split('\n')[0] ?? 'unknown error';
}
