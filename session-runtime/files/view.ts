/**
 * The Files view's runtime side (issue 24): the base store and the two read-only answers the
 * HTTP routes give, `GET /files` (tree.ts) and `GET /files/diff?path=` (diff.ts), sharing one
 * memory of file hashes.
 */
import type { FileTree } from '../wire/protocol.js';
import type { BaseStore } from './base.js';
import { HashCache } from './current.js';
import { fileDiff, type DiffOutcome } from './diff.js';
import { WorkspaceTree } from './tree.js';

export class FilesView {
  readonly #hashes = new HashCache();
  readonly #tree: WorkspaceTree;

  constructor(
    private readonly workspace: string,
    private readonly base: BaseStore,
  ) {
    this.#tree = new WorkspaceTree(workspace, base, this.#hashes);
  }

  tree(): Promise<FileTree> {
    return this.#tree.list();
  }

  /** `rel`: the query's `path` as sent (null when absent); checked here. */
  diff(rel: string | null): Promise<DiffOutcome> {
    return fileDiff(this.workspace, this.base, this.#hashes, rel);
  }
}
