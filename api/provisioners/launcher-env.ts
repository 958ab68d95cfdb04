/** Settings the API passes to runtime-launcher.ts through its environment (a leaf module: the
 * launcher must not load anything heavy before the runtime does). */

/** Niceness the launcher takes before starting the runtime; the agent it spawns inherits it. */
export const LAUNCHER_NICE_ENV = 'CATTY_RUNTIME_NICE';
/** What the launcher prints once it runs (inside the sandbox) and waits for its settings. */
export const LAUNCHER_WAITING_LINE = 'runtime-launcher: waiting for the session settings';
