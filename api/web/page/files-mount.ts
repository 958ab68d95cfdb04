/**
 * Where the Files view (./files/, its own module) is mounted: a session's files page and the
 * share page, each with its own source (the owner's routes, or the share link's).
 */
import { renderFiles, type FilesSource } from './files/index.js';

export type { FilesSource };

export function mountFiles(container: HTMLElement, source: FilesSource): () => void {
  const view = renderFiles(container, source);
  return () => view.dispose();
}
