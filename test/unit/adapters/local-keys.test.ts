import { describe, expect, it } from 'vitest';
import { HMAC_KEY_KID, LocalKeys } from '../../../lib/adapters/local-keys.ts';
import type { StoredSigningKey, WriteOutcome } from '../../../lib/ports.ts';

/** The directory's signing-key items: a put of an existing kid is a conflict, like the DynamoDB store. */
const keyDirectory = () => {
  const items = new Map<string, StoredSigningKey[]>();
  return {
    items,
    async getSigningKeys(tenantId: string) {
      return [...(items.get(tenantId) ?? [])];
    },
    async putSigningKey(tenantId: string, key: StoredSigningKey): Promise<WriteOutcome> {
      const list = items.get(tenantId) ?? [];
      if (list.some((k) => k.kid === key.kid)) return 'conflict';
      items.set(tenantId, [...list, key]);
      return 'ok';
    },
  };
};

describe('LocalKeys HMAC key', () => {
  it('creates one 256-bit HMAC key per tenant, shared by every instance, and never publishes it', async () => {
    const directory = keyDirectory();
    const clock = { now: () => 0 };
    const a = new LocalKeys(directory, clock);
    const b = new LocalKeys(directory, clock);
    const [macA, macB] = await Promise.all([a.mac('acme', 'data'), b.mac('acme', 'data')]);
    expect(macA).toHaveLength(32);
    expect(Buffer.from(macB).equals(Buffer.from(macA))).toBe(true);
    expect(Buffer.from(await a.mac('other', 'data')).equals(Buffer.from(macA))).toBe(false);

    const stored = directory.items.get('acme')!;
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ kid: HMAC_KEY_KID, alg: 'HS256', privateJwk: { kty: 'oct' } });
    expect(Buffer.from(stored[0]!.privateJwk.k!, 'base64url')).toHaveLength(32);

    await a.ensureKey('acme', 'ES256');
    const jwks = await new LocalKeys(directory, clock).publicJwks('acme');
    expect(jwks.keys.map((k) => k.alg)).toEqual(['ES256']);
    expect(JSON.stringify(jwks)).not.toContain(stored[0]!.privateJwk.k!);
  });
});
