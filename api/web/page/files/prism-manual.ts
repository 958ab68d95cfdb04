/**
 * Runs before Prism's core (imported right after this module by ./prism.ts): tells Prism never to
 * highlight the page by itself. Left alone, Prism's core calls `highlightAll()` on
 * DOMContentLoaded, which rewrites any `code.language-*` element with innerHTML; this view feeds
 * it nothing but `Prism.tokenize` and builds the DOM itself (./highlight.ts).
 */
(globalThis as { Prism?: unknown }).Prism = { manual: true, disableWorkerMessageHandler: true };
export {};
