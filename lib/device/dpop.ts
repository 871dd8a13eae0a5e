import { base64url, type JWK, SignJWT } from 'jose';
import type { DeviceKey } from './key.ts';

export interface DpopProofOptions {
  /** The HTTP method of the request, upper case. */
  htm: string;
  /** The request URL; query and fragment are removed (RFC 9449 §4.2). */
  htu: string;
  /** Claims added to the payload (the device API's decision proof carries `txn` and `decision`). */
  extraClaims?: Record<string, unknown>;
  /** Seconds since the epoch; defaults to now. */
  iat?: number;
}

/** The request URL without query and fragment, as `htu` carries it. */
export const htuOf = (url: string | URL): string => {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  return u.href;
};

/** A fresh `jti`: 128 random bits, base64url. */
export const randomJti = (): string => base64url.encode(globalThis.crypto.getRandomValues(new Uint8Array(16)));

/** Signs an RFC 9449 DPoP proof with the device key. */
export const createDpopProof = (key: DeviceKey, options: DpopProofOptions): Promise<string> =>
  new SignJWT({
    ...options.extraClaims,
    htm: options.htm.toUpperCase(),
    htu: htuOf(options.htu),
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    jti: randomJti(),
  })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk as JWK })
    .sign(key.privateKey);
