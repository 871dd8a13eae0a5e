import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** base64url of `bytes` bytes from the CSPRNG. */
export const randomToken = (bytes: number): string => randomBytes(bytes).toString('base64url');

export const sha256 = (value: string): string => createHash('sha256').update(value, 'utf8').digest('base64url');

/** Compares two secrets in constant time (hashing first makes the lengths equal). */
export const secretsEqual = (a: string, b: string): boolean =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** Compares a presented secret with a stored SHA-256 hash in constant time. */
export const matchesHash = (presented: string, storedHash: string): boolean => {
  const a = Buffer.from(sha256(presented));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
};
