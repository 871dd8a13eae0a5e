import { randomToken } from '../crypto.ts';
import { splitKeyId, withKeyId } from '../keyset.ts';
import type { Keys } from '../ports.ts';

/** The only `alg` a client_secret_jwt assertion may use (RFC 7518 §3.2). */
export const CLIENT_SECRET_JWT_ALG = 'HS256';

/**
 * The secret of a client_secret_jwt client (RFC 7523, OIDC Core §9) is derived, never stored: base64url(HMAC-SHA256(the
 * tenant's MAC key, "client_secret_jwt:{tenant}:{client}:{salt}")), where the key is sealed under the deployment's KMS
 * key (local mode: the local key store) and the salt is random per client and kept on its record with the id of the
 * MAC key (`{key id}.{salt}`): the service recomputes the secret to verify an assertion, a copy of the tables alone
 * recovers no secret, and a new salt rotates it. A salt without a key id is from before key ids: the tenant's legacy
 * MAC key derives it (in AWS deployments before keysets, the tenant's KMS HMAC key; docs/deploy.md "Upgrading").
 */
const input = (tenantId: string, clientId: string, salt: string) => `client_secret_jwt:${tenantId}:${clientId}:${salt}`;

/** A new client's stored salt and the secret it derives (told to the client once). */
export const newClientSecret = async (
  keys: Pick<Keys, 'mac'>,
  tenantId: string,
  clientId: string,
): Promise<{ salt: string; secret: string }> => {
  const salt = randomToken(16);
  const { keyId, mac } = await keys.mac(tenantId, input(tenantId, clientId, salt));
  return { salt: withKeyId(keyId, salt), secret: Buffer.from(mac).toString('base64url') };
};

/** The client's secret from its stored salt; undefined when the tenant no longer has the MAC key it names. */
export const deriveClientSecret = async (
  keys: Pick<Keys, 'macWith'>,
  tenantId: string,
  clientId: string,
  storedSalt: string,
): Promise<string | undefined> => {
  const { keyId, value } = splitKeyId(storedSalt);
  const mac = await keys.macWith(tenantId, keyId, input(tenantId, clientId, value));
  return mac && Buffer.from(mac).toString('base64url');
};
