/**
 * Where the Files view (api/web/page/files/, its own module) is mounted: a session's files page
 * and the share page. Until that view is in the bundle, the place stays empty.
 */
import type { FileDiff, FileTree } from '../../../session-runtime/wire/protocol.js';

export interface FilesSource {
  tree(): Promise<FileTree>;
  diff(path: string): Promise<FileDiff>;
}

export function mountFiles(_container: HTMLElement, _source: FilesSource): () => void {
  return () => undefined;
}
