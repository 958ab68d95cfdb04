#!/usr/bin/env node
import { main } from './main.js';
import { s3ServerMain } from './storage/s3-server.js';

// `catty-api s3-server …` is a process of its own (a store replicas share), not a control plane.
const argv = process.argv.slice(2);
(argv[0] === 's3-server' ? s3ServerMain(argv.slice(1)) : main(argv)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`catty-api: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
