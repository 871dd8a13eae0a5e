import {
  ACCESS_TOKEN_TTL_SECONDS,
  ID_TOKEN_TTL_SECONDS,
  type KeyMode,
  type MacKeyRecord,
  type SigningAlg,
  type SigningKeyRecord,
  type SigningKeyView,
  type TenantKeyset,
} from './model.ts';

/**
 * The rules of a tenant's keys, pure: which key signs, which keys are published, what a rotation does. The adapters
 * (lib/adapters/tenant-keys.ts) only load, seal and use the keys.
 *
 * Rotation: a new key is published at once and signs from `activeFrom` on (the deployment's key caches' lifetime later
 * in AWS, so that every JWKS a function serves holds a key before any function signs with it). The key it replaces
 * signs until then and stays published until every token it may have signed has expired: `KEY_RETENTION_MS` after
 * its successor became active. Past that it is dropped at the next change of the keyset (a KMS key is then scheduled
 * for deletion).
 */

/** The longest a token this service signs lives, plus five minutes of clock skew and JWKS caching. */
export const KEY_RETENTION_MS = (Math.max(ACCESS_TOKEN_TTL_SECONDS, ID_TOKEN_TTL_SECONDS) + 300) * 1000;

const byActivation = (a: SigningKeyRecord, b: SigningKeyRecord) =>
  a.activeFrom - b.activeFrom || a.createdAt - b.createdAt;

/**
 * The key that signs `alg` tokens at `now`: the newest of that algorithm already active, else (the algorithm has just
 * changed and its key is not active yet) the first one to become active. Undefined when the tenant has none.
 */
export const signingKeyOf = (keyset: TenantKeyset, alg: SigningAlg, now: number): SigningKeyRecord | undefined => {
  const candidates = keyset.signing.filter((k) => k.alg === alg).sort(byActivation);
  return candidates.filter((k) => k.activeFrom <= now).at(-1) ?? candidates[0];
};

/** Until when a key stays published: for ever while it has no successor, else the retention after the successor. */
const publishedUntil = (sorted: SigningKeyRecord[], index: number): number => {
  const successor = sorted[index + 1];
  return successor ? successor.activeFrom + KEY_RETENTION_MS : Number.POSITIVE_INFINITY;
};

/** The keys to publish at `now`, in activation order: the current one, the next one, and those still verifying. */
export const publishedKeys = (keyset: TenantKeyset, now: number): SigningKeyRecord[] => {
  const sorted = [...keyset.signing].sort(byActivation);
  return sorted.filter((_, i) => now < publishedUntil(sorted, i));
};

export const describeKeys = (keyset: TenantKeyset, now: number): SigningKeyView[] => {
  const sorted = [...keyset.signing].sort(byActivation);
  const current = sorted.filter((k) => k.activeFrom <= now).at(-1);
  return sorted.flatMap((k, i) => {
    const until = publishedUntil(sorted, i);
    if (now >= until) return [];
    const status = k === current ? 'current' : k.activeFrom > now ? 'next' : 'previous';
    return [
      {
        kid: k.kid,
        alg: k.alg,
        key_mode: k.mode,
        status,
        created_at: Math.floor(k.createdAt / 1000),
        active_from: Math.floor(k.activeFrom / 1000),
        ...(Number.isFinite(until) ? { published_until: Math.floor(until / 1000) } : {}),
      } satisfies SigningKeyView,
    ];
  });
};

/** Whether the tenant needs a new signing key to follow its settings: none yet, or the newest is of another kind. */
export const needsSigningKey = (
  keyset: TenantKeyset | undefined,
  want: { alg: SigningAlg; mode: KeyMode },
): boolean => {
  const newest = keyset ? [...keyset.signing].sort(byActivation).at(-1) : undefined;
  return !newest || newest.alg !== want.alg || newest.mode !== want.mode;
};

/**
 * The keyset with `key` added as the next signing key, and the keys dropped because no token they signed can still be
 * alive (the caller schedules the deletion of dropped KMS keys once the keyset is saved).
 */
export const addSigningKey = (
  keyset: TenantKeyset,
  key: SigningKeyRecord,
  now: number,
): { keyset: TenantKeyset; dropped: SigningKeyRecord[] } => {
  const next = [...keyset.signing, key];
  const kept = publishedKeys({ ...keyset, signing: next }, now);
  return {
    keyset: { ...keyset, signing: kept, updatedAt: now },
    dropped: next.filter((k) => !kept.includes(k)),
  };
};

/** The MAC key new values are keyed with: the newest that is not the legacy one, else the legacy one. */
export const currentMacKey = (keyset: TenantKeyset): MacKeyRecord | undefined =>
  [...keyset.mac].sort((a, b) => a.createdAt - b.createdAt).findLast((k) => !k.legacy) ??
  keyset.mac.find((k) => k.legacy);

/** The MAC key a stored value names (`undefined`: a value from before key ids, made with the legacy key). */
export const macKeyOf = (keyset: TenantKeyset, id: string | undefined): MacKeyRecord | undefined =>
  id === undefined ? (keyset.mac.find((k) => k.legacy) ?? currentMacKey(keyset)) : keyset.mac.find((k) => k.id === id);

/** Whether the tenant needs a MAC key of its own (a keyset with none, or with the legacy one alone). */
export const needsMacKey = (keyset: TenantKeyset | undefined): boolean => !keyset?.mac.some((k) => !k.legacy);

/**
 * A keyed value as stored: `{key id}.{value}`. Key ids are `[a-z0-9-]`; values are base64url: neither holds a dot, so
 * a value without one is from before key ids.
 */
export const withKeyId = (keyId: string, value: string): string => `${keyId}.${value}`;

export const splitKeyId = (stored: string): { keyId?: string; value: string } => {
  const dot = stored.indexOf('.');
  return dot < 0 ? { value: stored } : { keyId: stored.slice(0, dot), value: stored.slice(dot + 1) };
};
