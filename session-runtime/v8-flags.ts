/**
 * V8 settings for the runtime's memory budget, applied before anything else is loaded (bin.ts
 * imports this first). `--optimize-for-size` cannot travel in NODE_OPTIONS, so it is set here:
 * it takes an idle runtime from ~69 to ~65 MiB (tests/bench/runtime-idle-rss.mjs); the runtime
 * waits on I/O, not on optimised code. The young-generation cap is RUNTIME_NODE_OPTIONS.
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--optimize-for-size');
