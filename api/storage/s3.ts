/** ObjectStorage over @aws-sdk/client-s3 against any S3 endpoint (AWS, MinIO, R2, embedded). */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Config } from '../config.js';
import type { ObjectStorage } from './types.js';

/** The storage settings of the API's configuration (endpoint null: the SDK's default AWS
 * endpoint for the region — the embedded server passes its own). */
export type S3StorageOptions = S3Config;

function isNotFound(err: unknown): boolean {
  if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode === 404 || err.name === 'NotFound' || err.name === 'NoSuchKey' || err.name === 'NoSuchBucket';
  return false;
}

function isAlreadyThere(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'BucketAlreadyOwnedByYou' || err.name === 'BucketAlreadyExists' || err.$metadata.httpStatusCode === 409);
}

export function createS3Storage(options: S3StorageOptions): ObjectStorage {
  const client = new S3Client({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    // Checksums computed by the SDK would be signed into presigned PUTs and must then be sent by
    // the runtime; we only sign Content-Length.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const Bucket = options.bucket;
  return {
    async presignPut(key, size, expiresInSec) {
      const command = new PutObjectCommand({ Bucket, Key: key, ContentLength: size, ContentType: 'application/gzip' });
      const url = await getSignedUrl(client, command, { expiresIn: expiresInSec, signableHeaders: new Set(['content-length', 'content-type']) });
      return { url, headers: { 'content-length': String(size), 'content-type': 'application/gzip' } };
    },
    async presignGet(key, expiresInSec) {
      return getSignedUrl(client, new GetObjectCommand({ Bucket, Key: key }), { expiresIn: expiresInSec });
    },
    async head(key) {
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket, Key: key }));
        return { size: out.ContentLength ?? 0 };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    async delete(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: key }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
    async ensureBucket() {
      try {
        await client.send(new HeadBucketCommand({ Bucket }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        try {
          await client.send(new CreateBucketCommand({ Bucket }));
        } catch (createErr) {
          // API replicas started together: another one made it between our look and our create.
          // Looked at again, so a bucket that exists but is not ours still fails here.
          if (!isAlreadyThere(createErr)) throw createErr;
          await client.send(new HeadBucketCommand({ Bucket }));
        }
      }
    },
    async close() {
      client.destroy();
    },
  };
}
