import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import type { AuthRequest } from '../model.ts';
import type { Keys } from '../ports.ts';

/**
 * Hardening rule 12: a push-mode token response waits on its request until delivered (so that a retry resends the
 * same tokens), never in plain text. It is kept as a JWE (`dir`, A256GCM, jose) under a key of its own request:
 * HKDF-SHA256 over the tenant's push-response key, which is the tenant's HMAC key (KMS in AWS, the local key store
 * locally; `Keys.mac`) applied to a fixed label, so a copy of the tables alone opens nothing. The tenant key costs
 * one MAC per process and tenant (the adapters keep MACs); the request key binds the ciphertext to its `txn`.
 */
const keyOf = async (keys: Pick<Keys, 'mac'>, request: Pick<AuthRequest, 'tenantId' | 'txn'>): Promise<Uint8Array> => {
  const tenantKey = await keys.mac(request.tenantId, 'push-response-key');
  return new Uint8Array(hkdfSync('sha256', tenantKey, request.txn, 'ciba push response', 32));
};

export const sealPushResponse = async (
  keys: Pick<Keys, 'mac'>,
  request: Pick<AuthRequest, 'tenantId' | 'txn'>,
  response: Record<string, unknown>,
): Promise<string> =>
  new CompactEncrypt(new TextEncoder().encode(JSON.stringify(response)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
    .encrypt(await keyOf(keys, request));

export const openPushResponse = async (
  keys: Pick<Keys, 'mac'>,
  request: Pick<AuthRequest, 'tenantId' | 'txn'>,
  sealed: string,
): Promise<Record<string, unknown>> => {
  const { plaintext } = await compactDecrypt(sealed, await keyOf(keys, request), {
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM'],
  });
  // The service's own token response, authenticated by the decryption.
  return JSON.parse(new TextDecoder().decode(plaintext)) as Record<string, unknown>;
};
