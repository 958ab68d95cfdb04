/**
 * The seam of `catty resume`/`fork`: the API sends a verified snapshot (the tar.gz the old
 * machine stored) to the new machine's one `POST /upload` with this media type instead of the
 * CLI's zip, and the runtime extracts it with its snapshot restorer.
 */
export const SNAPSHOT_MEDIA_TYPE = 'application/gzip';

/** Whether a request's Content-Type names a snapshot (parameters ignored). */
export function isSnapshotMediaType(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === SNAPSHOT_MEDIA_TYPE;
}
