#!/usr/bin/env node
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`catty-node: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
