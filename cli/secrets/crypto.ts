/** AES-256-GCM with a fresh random 96-bit nonce per value and the name as associated data. */
import crypto from 'node:crypto';
import * as z from '../../session-runtime/wire/zod.js';

export const Sealed = z.strictObject({
  nonce: z.string().check(z.regex(/^[A-Za-z0-9+/=]+$/)),
  ciphertext: z.string().check(z.regex(/^[A-Za-z0-9+/=]*$/)),
  tag: z.string().check(z.regex(/^[A-Za-z0-9+/=]+$/)),
});
export type Sealed = z.infer<typeof Sealed>;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function seal(key: Buffer, aad: string, plaintext: string): Sealed {
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { nonce: nonce.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/** Returns the plaintext, or null when the value does not authenticate (tampered, wrong key, wrong name). */
export function open(key: Buffer, aad: string, sealed: Sealed): string | null {
  const nonce = Buffer.from(sealed.nonce, 'base64');
  const tag = Buffer.from(sealed.tag, 'base64');
  if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) return null;
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
