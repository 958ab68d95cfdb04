/** The small interface the session logic uses for object storage (S3 or a fake in tests). */
export interface ObjectStorage {
  /** A presigned PUT for exactly `size` bytes (Content-Length is signed in). */
  presignPut(key: string, size: number, expiresInSec: number): Promise<{ url: string; headers: Record<string, string> }>;
  presignGet(key: string, expiresInSec: number): Promise<string>;
  /** The object's size, or null when it does not exist. */
  head(key: string): Promise<{ size: number } | null>;
  /** Idempotent: deleting a missing object is fine. */
  delete(key: string): Promise<void>;
  ensureBucket(): Promise<void>;
  close(): Promise<void>;
}
