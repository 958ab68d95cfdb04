/**
 * Whether the walked files fit the upload cap (compressed bytes), decided before a machine is
 * asked for — so a workspace over the cap never starts a session that would only be stopped.
 *
 * From what the walk knows, most workspaces are settled without reading a byte: the zip can
 * be no larger than the files plus their headers (deflate's worst case included), and no
 * smaller than the files it stores as they are (already compressed media and archives). Only
 * in between — more raw bytes than the cap, but maybe compressible below it — are the files
 * zipped once without sending, stopping as soon as the cap is passed. The upload keeps its own
 * streaming cap for files that grow in the meantime.
 */
import { MAX_ENTRIES } from './zip-format.js';
import { isStoredExtension, zipFiles } from './zip.js';
import { capError, tooManyFilesError } from './errors.js';
import type { WalkResult } from './walk.js';

/** Local header, data descriptor and central header around each name (zip-format.ts). */
const ENTRY_OVERHEAD_BYTES = 30 + 16 + 46;
const END_OF_CENTRAL_DIRECTORY_BYTES = 22;

/** Deflate's worst case on incompressible data: 5 bytes per stored block of at most 16 KiB, and a little. */
const deflateBound = (size: number) => size + Math.ceil(size / 16_384) * 5 + 16;

export function zipBounds(walk: WalkResult): { atLeast: number; atMost: number } {
  let atLeast = END_OF_CENTRAL_DIRECTORY_BYTES;
  let atMost = END_OF_CENTRAL_DIRECTORY_BYTES;
  for (const file of walk.files) {
    const headers = ENTRY_OVERHEAD_BYTES + 2 * Buffer.byteLength(file.rel);
    atMost += headers + deflateBound(file.size);
    atLeast += headers + (isStoredExtension(file.rel) ? file.size : 0);
  }
  return { atLeast, atMost };
}

/** Throws the cap error (naming the largest files) when the upload cannot fit `maxBytes`. */
export async function checkUploadFits(walk: WalkResult, maxBytes: number): Promise<void> {
  if (walk.files.length >= MAX_ENTRIES) throw tooManyFilesError(walk.files.length);
  const { atLeast, atMost } = zipBounds(walk);
  if (atMost <= maxBytes) return;
  if (atLeast > maxBytes) throw capError(walk, maxBytes);
  const job = zipFiles(walk.files);
  let zipped = 0;
  try {
    for await (const chunk of job.stream as AsyncIterable<Buffer>) {
      zipped += chunk.length;
      if (zipped > maxBytes) throw capError(walk, maxBytes);
    }
  } finally {
    job.abort();
  }
}
