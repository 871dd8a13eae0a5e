import type { Keys } from '../ports.ts';

/** The only `alg` a client_secret_jwt assertion may use (RFC 7518 §3.2). */
export const CLIENT_SECRET_JWT_ALG = 'HS256';

/**
 * The secret of a client_secret_jwt client (RFC 7523, OIDC Core §9): derived, never stored. It is
 * base64url(HMAC-SHA256(tenant HMAC key, "client_secret_jwt:{tenant}:{client}:{salt}")), where the key stays in KMS
 * (or the local key store) and the salt is random per client and kept on its record: the service recomputes the
 * secret to verify an assertion, a copy of the tables alone recovers no secret, and a new salt rotates it.
 */
export const deriveClientSecret = async (
  keys: Pick<Keys, 'mac'>,
  tenantId: string,
  clientId: string,
  salt: string,
): Promise<string> =>
  Buffer.from(await keys.mac(tenantId, `client_secret_jwt:${tenantId}:${clientId}:${salt}`)).toString('base64url');
