import { describe, expect, it } from 'vitest';
import {
  addSigningKey,
  currentMacKey,
  describeKeys,
  KEY_RETENTION_MS,
  macKeyOf,
  needsMacKey,
  needsSigningKey,
  publishedKeys,
  signingKeyOf,
  splitKeyId,
  withKeyId,
} from '../../lib/keyset.ts';
import type { MacKeyRecord, SigningKeyRecord, TenantKeyset } from '../../lib/model.ts';

const T = 1_800_000_000_000;
const key = (kid: string, activeFrom: number, extra: Partial<SigningKeyRecord> = {}): SigningKeyRecord => ({
  kid,
  alg: 'ES256',
  mode: 'wrapped',
  publicJwk: { kty: 'EC', crv: 'P-256', x: kid, y: kid },
  createdAt: activeFrom,
  activeFrom,
  sealed: `plain:${kid}`,
  ...extra,
});
const mac = (id: string, createdAt: number, extra: Partial<MacKeyRecord> = {}): MacKeyRecord => ({
  id,
  mode: 'wrapped',
  createdAt,
  sealed: `plain:${id}`,
  ...extra,
});
const keyset = (signing: SigningKeyRecord[], macs: MacKeyRecord[] = []): TenantKeyset => ({
  tenantId: 'acme',
  signing,
  mac: macs,
  createdAt: T,
  updatedAt: T,
});

describe('signing key rotation', () => {
  const rotated = keyset([key('old', T), key('new', T + 60_000)]);

  it('signs with the old key until the new one is active, then with the new one', () => {
    expect(signingKeyOf(rotated, 'ES256', T + 59_999)?.kid).toBe('old');
    expect(signingKeyOf(rotated, 'ES256', T + 60_000)?.kid).toBe('new');
    expect(signingKeyOf(rotated, 'PS256', T + 60_000)).toBeUndefined();
  });

  it('publishes the new key at once and the old one until every token it signed has expired', () => {
    expect(publishedKeys(rotated, T + 1).map((k) => k.kid)).toEqual(['old', 'new']);
    expect(publishedKeys(rotated, T + 60_000 + KEY_RETENTION_MS - 1).map((k) => k.kid)).toEqual(['old', 'new']);
    expect(publishedKeys(rotated, T + 60_000 + KEY_RETENTION_MS).map((k) => k.kid)).toEqual(['new']);
    // The retention covers the longest token (an hour) and five minutes of skew.
    expect(KEY_RETENTION_MS).toBe(3_900_000);
  });

  it('uses the first key of a new algorithm before it is active (the setting changed: nothing else signs it)', () => {
    const changed = keyset([key('es', T), key('ps', T + 60_000, { alg: 'PS256' })]);
    expect(signingKeyOf(changed, 'PS256', T + 1)?.kid).toBe('ps');
    expect(signingKeyOf(changed, 'ES256', T + 1)?.kid).toBe('es');
  });

  it('drops the keys past their retention when a key is added, and says which (KMS keys are then retired)', () => {
    const three = keyset([key('k1', T), key('k2', T + 1000, { mode: 'kms', kmsKeyId: 'arn:k2' })]);
    const later = T + 1000 + KEY_RETENTION_MS + 1;
    const { keyset: next, dropped } = addSigningKey(three, key('k3', later + 60_000), later);
    expect(next.signing.map((k) => k.kid)).toEqual(['k2', 'k3']);
    expect(dropped.map((k) => k.kid)).toEqual(['k1']);
    const { dropped: again } = addSigningKey(
      next,
      key('k4', later + 10 * KEY_RETENTION_MS),
      later + 3 * KEY_RETENTION_MS,
    );
    expect(again.map((k) => k.kmsKeyId)).toEqual(['arn:k2']);
  });

  it('needs a new key when there is none or the newest is of another algorithm or key mode', () => {
    expect(needsSigningKey(undefined, { alg: 'ES256', mode: 'wrapped' })).toBe(true);
    expect(needsSigningKey(rotated, { alg: 'ES256', mode: 'wrapped' })).toBe(false);
    expect(needsSigningKey(rotated, { alg: 'PS256', mode: 'wrapped' })).toBe(true);
    expect(needsSigningKey(rotated, { alg: 'ES256', mode: 'kms' })).toBe(true);
  });

  it('describes the keys for the admin API: current, next and previous, with when each stops being published', () => {
    const three = keyset([key('a', T), key('b', T + 1000), key('c', T + 60_000)]);
    expect(describeKeys(three, T + 2000)).toEqual([
      {
        kid: 'a',
        alg: 'ES256',
        key_mode: 'wrapped',
        status: 'previous',
        created_at: T / 1000,
        active_from: T / 1000,
        published_until: (T + 1000 + KEY_RETENTION_MS) / 1000,
      },
      expect.objectContaining({ kid: 'b', status: 'current' }),
      expect.objectContaining({ kid: 'c', status: 'next', active_from: (T + 60_000) / 1000 }),
    ]);
    expect(describeKeys(three, T + 2000)[2]).not.toHaveProperty('published_until');
    expect(JSON.stringify(describeKeys(three, T))).not.toContain('plain:');
  });
});

describe('MAC keys', () => {
  it('keys new values with the newest key that is not the legacy one, and old values with the key they name', () => {
    const keys = keyset([], [mac('legacy', T, { mode: 'kms', kmsKeyId: 'arn:h', legacy: true }), mac('m1', T + 1)]);
    expect(currentMacKey(keys)?.id).toBe('m1');
    expect(macKeyOf(keys, undefined)?.id).toBe('legacy');
    expect(macKeyOf(keys, 'm1')?.id).toBe('m1');
    expect(macKeyOf(keys, 'gone')).toBeUndefined();
    expect(needsMacKey(keys)).toBe(false);
  });

  it('uses the legacy key alone until the tenant has a key of its own (an upgrade still under way)', () => {
    const legacyOnly = keyset([], [mac('legacy', T, { legacy: true })]);
    expect(currentMacKey(legacyOnly)?.id).toBe('legacy');
    expect(needsMacKey(legacyOnly)).toBe(true);
    expect(needsMacKey(undefined)).toBe(true);
  });

  it('stores values with their key id, and reads values from before key ids as such', () => {
    expect(withKeyId('m1', 'AbC_-9')).toBe('m1.AbC_-9');
    expect(splitKeyId('m1.AbC_-9')).toEqual({ keyId: 'm1', value: 'AbC_-9' });
    expect(splitKeyId('AbC_-9')).toEqual({ value: 'AbC_-9' });
  });
});
