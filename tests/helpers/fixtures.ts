/**
 * vitest fixtures (`test.extend`) that start what a test needs and own its teardown:
 *   it('…', async ({ startRuntime }) => { const rt = await startRuntime({ env }); … })
 * stops every runtime the test started when it ends, and
 *   const it = testWithApi({ runtimeEnv }); it('…', async ({ api }) => …)
 * starts one catty-api before the file's first test and closes it after its last.
 */
/* eslint-disable no-empty-pattern -- a vitest fixture must destructure its context, even when it needs nothing from it */
import { test as base } from 'vitest';
import { startTestApi, type StartTestApiOptions, type TestApi } from './api.js';
import { startRuntime, type RuntimeProcess, type StartOptions } from './runtime.js';

/** `startRuntime` whose runtimes are stopped when the test ends. */
export const test = base.extend('startRuntime', async ({}, { onCleanup }) => {
  const started: RuntimeProcess[] = [];
  onCleanup(async () => {
    await Promise.all(started.map((rt) => rt.stop()));
  });
  return async (options: StartOptions = {}): Promise<RuntimeProcess> => {
    const rt = await startRuntime(options);
    started.push(rt);
    return rt;
  };
});

/**
 * `test` plus `api`: one built catty-api for the file, started with `options` before its first
 * test (within the hook timeout, not a test's). Call it at the top level of the file.
 */
export function testWithApi(options: StartTestApiOptions = {}) {
  const withApi = test.extend('api', { scope: 'file' }, async ({}, { onCleanup }): Promise<TestApi> => {
    const api = await startTestApi(options);
    onCleanup(() => api.close());
    return api;
  });
  withApi.beforeAll(({ api: _started }) => undefined);
  return withApi;
}

/** `test` plus `runtime`: one built catty-session for the file (call it at the top level). */
export function testWithRuntime(options: StartOptions = {}) {
  const withRuntime = test.extend('runtime', { scope: 'file' }, async ({}, { onCleanup }): Promise<RuntimeProcess> => {
    const rt = await startRuntime(options);
    onCleanup(async () => {
      await rt.stop();
    });
    return rt;
  });
  withRuntime.beforeAll(({ runtime: _started }) => undefined);
  return withRuntime;
}
