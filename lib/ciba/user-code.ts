import { timingSafeEqual } from 'node:crypto';
import { matchesHash } from '../crypto.ts';
import { splitKeyId, withKeyId } from '../keyset.ts';
import type { User } from '../model.ts';
import type { Deps, Keys } from '../ports.ts';

const input = (sub: string, code: string) => `user_code:${sub}:${code}`;

/**
 * Hardening rule 12: a user's CIBA user_code is stored as HMAC-SHA256 under the tenant's MAC key (sealed under the
 * deployment's KMS key in AWS, the local key store locally; `Keys.mac`), over the user and the code, with the key's
 * id: a copy of the tables alone cannot test guesses against it (a code of a few digits under a bare SHA-256 falls to
 * a dictionary in a moment), and the same code of two users or tenants does not show as the same value.
 */
export const userCodeMac = async (
  keys: Pick<Keys, 'mac'>,
  tenantId: string,
  sub: string,
  code: string,
): Promise<string> => {
  const { keyId, mac } = await keys.mac(tenantId, input(sub, code));
  return withKeyId(keyId, Buffer.from(mac).toString('base64url'));
};

/** Whether `presented` is the code of a stored MAC, under the key the MAC names (a MAC without one: the legacy key). */
const matchesMac = async (keys: Pick<Keys, 'macWith'>, user: User, stored: string, presented: string) => {
  const { keyId, value } = splitKeyId(stored);
  const mac = await keys.macWith(user.tenantId, keyId, input(user.sub, presented));
  if (!mac) return false;
  const a = Buffer.from(Buffer.from(mac).toString('base64url'));
  const b = Buffer.from(value);
  return a.length === b.length && timingSafeEqual(a, b);
};

/**
 * Whether `presented` is the user's code, compared in constant time. A code stored before rule 12 (a bare SHA-256)
 * still verifies, and is rewritten as an HMAC when it does: only then is the code known.
 */
export const verifyUserCode = async (
  deps: Pick<Deps, 'users' | 'keys' | 'logger'>,
  user: User,
  presented: string,
): Promise<boolean> => {
  if (user.userCodeMac !== undefined) return matchesMac(deps.keys, user, user.userCodeMac, presented);
  if (user.userCodeHash === undefined || !matchesHash(presented, user.userCodeHash)) return false;
  const mac = await userCodeMac(deps.keys, user.tenantId, user.sub, presented);
  // Conditional on the old hash: an operator's change meanwhile wins. A failure leaves the old hash, tried again next time.
  await deps.users.upgradeUserCode(user.tenantId, user.sub, user.userCodeHash, mac).catch((error: unknown) =>
    deps.logger.warn('user code not rewritten as an HMAC', {
      tenant: user.tenantId,
      error: error instanceof Error ? error.name : String(error),
    }),
  );
  return true;
};
