import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose';
import type { AuthRequest } from '../model.ts';
import type { Keys } from '../ports.ts';

/**
 * Hardening rule 12: a push-mode token response waits on its request until delivered (so that a retry resends the
 * same tokens), never in plain text. It is kept as a JWE (`dir`, A256GCM, jose) under a key of its own request:
 * HKDF-SHA256 over the tenant's push-response key, which is the tenant's MAC key (sealed under the deployment's KMS
 * key in AWS, the local key store locally; `Keys.mac`) applied to a fixed label, so a copy of the tables alone opens
 * nothing. The JWE's `kid` names the MAC key (none: the legacy one). The request key binds the ciphertext to its `txn`.
 */
const requestKey = (tenantKey: Uint8Array, request: Pick<AuthRequest, 'txn'>): Uint8Array =>
  new Uint8Array(hkdfSync('sha256', tenantKey, request.txn, 'ciba push response', 32));

const LABEL = 'push-response-key';

export const sealPushResponse = async (
  keys: Pick<Keys, 'mac'>,
  request: Pick<AuthRequest, 'tenantId' | 'txn'>,
  response: Record<string, unknown>,
): Promise<string> => {
  const { keyId, mac } = await keys.mac(request.tenantId, LABEL);
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(response)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: keyId })
    .encrypt(requestKey(mac, request));
};

export const openPushResponse = async (
  keys: Pick<Keys, 'macWith'>,
  request: Pick<AuthRequest, 'tenantId' | 'txn'>,
  sealed: string,
): Promise<Record<string, unknown>> => {
  const { kid } = decodeProtectedHeader(sealed);
  const tenantKey = await keys.macWith(request.tenantId, typeof kid === 'string' ? kid : undefined, LABEL);
  if (!tenantKey) throw new Error('the key that sealed the push response no longer exists');
  const { plaintext } = await compactDecrypt(sealed, requestKey(tenantKey, request), {
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM'],
  });
  // The service's own token response, authenticated by the decryption.
  return JSON.parse(new TextDecoder().decode(plaintext)) as Record<string, unknown>;
};
