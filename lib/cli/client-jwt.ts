import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { importJWK, type JWK, SignJWT } from 'jose';
import { CliError } from './context.ts';

/** A client's private key (a private JWK file) for private_key_jwt and signed authentication requests. */
export interface ClientSigner {
  key: CryptoKey | Uint8Array;
  alg: string;
  kid?: string;
}

const DEFAULT_ALG: Record<string, string> = { EC: 'ES256', RSA: 'PS256', OKP: 'EdDSA' };

/** Reads a private JWK (`alg` from the file, else ES256 for EC, PS256 for RSA, EdDSA for OKP). */
export const loadSigner = async (path: string, alg?: string): Promise<ClientSigner> => {
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as JWK;
  } catch {
    throw new CliError('invalid_key_file', `${path} is not a readable JSON Web Key`);
  }
  if (typeof jwk.d !== 'string') throw new CliError('invalid_key_file', `${path} holds no private key (no "d")`);
  const chosen = alg ?? jwk.alg ?? DEFAULT_ALG[jwk.kty ?? ''];
  if (!chosen) throw new CliError('invalid_key_file', `cannot tell the algorithm of ${path}: add "alg"`);
  const key = (await importJWK(jwk, chosen)) as CryptoKey | Uint8Array;
  return { key, alg: chosen, ...(jwk.kid ? { kid: jwk.kid } : {}) };
};

const sign = (signer: ClientSigner, claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: signer.alg, ...(signer.kid ? { kid: signer.kid } : {}) })
    .sign(signer.key);

/** RFC 7523 §2.2 client authentication: a fresh assertion per request (its jti is single use). */
export const clientAssertionParams = async (
  signer: ClientSigner,
  clientId: string,
  audience: string,
): Promise<Record<string, string>> => {
  const now = Math.floor(Date.now() / 1000);
  return {
    client_id: clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await sign(signer, {
      iss: clientId,
      sub: clientId,
      aud: audience,
      iat: now,
      exp: now + 60,
      jti: randomUUID(),
    }),
  };
};

/**
 * CIBA §7.1.1: the authentication request parameters as a signed request object (`iss`, `aud`, `iat`, `nbf`, `exp`,
 * `jti`); `requested_expiry` stays a number and `authorization_details` a JSON array.
 */
export const signRequestObject = async (
  signer: ClientSigner,
  clientId: string,
  issuer: string,
  params: Record<string, string | number | undefined>,
): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: clientId,
    aud: issuer,
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: randomUUID(),
  };
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    claims[k] = k === 'authorization_details' && typeof v === 'string' ? JSON.parse(v) : v;
  }
  return sign(signer, claims);
};
