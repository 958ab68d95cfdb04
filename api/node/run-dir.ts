/**
 * A cluster machine's run volume as the node holds it. The machine (uid 1000) owns the
 * directory until its runtime listens, so anything in it may be a link it planted —
 * `runtime.sock → /var/run/docker.sock` — or be swapped between a check and a use. So the node
 * opens the directory once (O_NOFOLLOW, O_DIRECTORY: the volume's own, never a link in its
 * place), waits for the runtime's socket to be a socket (lstat), takes the directory back
 * through that descriptor (the node's, 0711: entered, no longer changed by the machine), checks
 * the socket again, and from then on names its sockets through the descriptor
 * (`/proc/self/fd/N/runtime.sock`): the same inode whatever happens to the path.
 */
import fs from 'node:fs';

export interface HeldRunDir {
  /** A name inside the held directory, resolved through its descriptor. */
  path(name: string): string;
  isSocket(name: string): boolean;
  /** The node takes the directory: its own, 0711. */
  lock(): void;
  close(): void;
}

export function holdRunDir(dir: string): HeldRunDir {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  let open = true;
  try {
    if (!fs.fstatSync(fd).isDirectory()) throw new Error(`${dir} is not a directory`);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  const path = (name: string): string => {
    if (name.includes('/') || name === '..' || name === '.') throw new Error(`not a name: ${name}`);
    return `/proc/self/fd/${fd}/${name}`;
  };
  return {
    path,
    isSocket: (name) => fs.lstatSync(path(name), { throwIfNoEntry: false })?.isSocket() ?? false,
    lock() {
      fs.fchownSync(fd, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
      fs.fchmodSync(fd, 0o711);
    },
    close() {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}
