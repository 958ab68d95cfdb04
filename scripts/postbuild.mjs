// Makes the bin entry points executable after tsc has written them.
import { chmodSync, existsSync } from 'node:fs';

for (const bin of ['dist/cli/bin.js', 'dist/api/bin.js', 'dist/api/node/bin.js', 'dist/session-runtime/bin.js']) {
  if (existsSync(bin)) chmodSync(bin, 0o755);
}
