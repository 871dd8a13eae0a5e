import { createHmac } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { LocalKeys } from '../../../lib/adapters/local-keys.ts';
import { KEY_RETENTION_MS } from '../../../lib/keyset.ts';
import { memoryLocalKeys } from '../../helpers/memory-keys.ts';

const T = 1_800_000_000_000;

const verify = async (keys: LocalKeys, jws: string) =>
  jwtVerify(jws, createLocalJWKSet(await keys.publicJwks('acme')), { currentDate: new Date(T) });

describe('local mode keys (TenantKeys with the local vault)', () => {
  it('generates the tenant key on first use, signs with it and publishes only its public half', async () => {
    const { keys, keysets } = memoryLocalKeys({ now: () => T });
    const jws = await keys.sign('acme', 'ES256', { typ: 'JWT' }, { sub: 'alice', exp: T / 1000 + 60 });
    const { payload, protectedHeader } = await verify(keys, jws);
    expect(payload.sub).toBe('alice');
    const jwks = await keys.publicJwks('acme');
    expect(jwks.keys).toEqual([
      expect.objectContaining({ kty: 'EC', kid: protectedHeader.kid, alg: 'ES256', use: 'sig' }),
    ]);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    // Kept in the store as `plain:` (local mode has no KMS), with a MAC key beside it.
    const stored = keysets.get('acme')!;
    expect(stored.signing[0]!.sealed).toMatch(/^plain:/);
    expect(stored.mac).toHaveLength(1);
  });

  it('rotates: the new key signs at once, tokens of the old one keep verifying until their retention ends', async () => {
    let now = T;
    const { keys } = memoryLocalKeys({ now: () => now });
    const before = await keys.sign('acme', 'ES256', {}, { sub: 'alice', exp: T / 1000 + 3600 });
    const rotated = await keys.rotate('acme', { alg: 'ES256', mode: 'wrapped' });
    expect(rotated.map((k) => k.status)).toEqual(['previous', 'current']);
    const after = await keys.sign('acme', 'ES256', {}, { sub: 'alice', exp: T / 1000 + 3600 });
    const kid = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString()).kid;
    expect(kid(after)).not.toBe(kid(before));
    await verify(keys, before);
    await verify(keys, after);
    now = T + KEY_RETENTION_MS + 1;
    expect((await keys.publicJwks('acme')).keys.map((k) => k.kid)).toEqual([kid(after)]);
  });

  it('follows a new signing_alg with a key of that algorithm (ensureKeys rotates), and a kms tenant gets a generated key', async () => {
    const { keys } = memoryLocalKeys({ now: () => T });
    await keys.ensureKeys('acme', { alg: 'ES256', mode: 'wrapped' });
    await keys.ensureKeys('acme', { alg: 'ES256', mode: 'wrapped' });
    expect(await keys.describe('acme')).toHaveLength(1);
    await keys.ensureKeys('acme', { alg: 'PS256', mode: 'kms' });
    const described = await keys.describe('acme');
    expect(described.map((k) => [k.alg, k.key_mode])).toEqual([
      ['ES256', 'wrapped'],
      ['PS256', 'wrapped'],
    ]);
    const jws = await keys.sign('acme', 'PS256', {}, { sub: 'bob' });
    expect((await verify(keys, jws)).protectedHeader.alg).toBe('PS256');
  });

  it('keeps MACs keyed by one key per tenant, shared by every instance, named by its id', async () => {
    const store = memoryLocalKeys({ now: () => T });
    const other = new LocalKeys(store.directory, { now: () => T });
    const a = await store.keys.mac('acme', 'data');
    const b = await other.mac('acme', 'data');
    expect(a.mac).toHaveLength(32);
    expect(b.keyId).toBe(a.keyId);
    expect(Buffer.from(b.mac).equals(Buffer.from(a.mac))).toBe(true);
    expect(Buffer.from((await other.macWith('acme', a.keyId, 'data'))!).equals(Buffer.from(a.mac))).toBe(true);
    expect(await other.macWith('acme', 'no-such-key', 'data')).toBeUndefined();
    expect(Buffer.from((await store.keys.mac('other', 'data')).mac).equals(Buffer.from(a.mac))).toBe(false);
  });

  it('imports the keys of the layout before keysets: old tokens verify, the HMAC key keeps its MACs', async () => {
    const { keys, legacy } = memoryLocalKeys({ now: () => T });
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const hmac = Buffer.alloc(32, 7);
    legacy.set('acme', [
      { kid: 'old-kid', alg: 'ES256', privateJwk: privateJwk as never, createdAt: T - 1000 },
      {
        kid: 'hmac/client-secret-jwt',
        alg: 'HS256',
        privateJwk: { kty: 'oct', k: hmac.toString('base64url') },
        createdAt: T - 1000,
      },
    ]);
    const oldToken = await new SignJWT({ sub: 'carol' })
      .setProtectedHeader({ alg: 'ES256', kid: 'old-kid' })
      .sign(privateKey);
    expect((await verify(keys, oldToken)).payload.sub).toBe('carol');
    // Values from before key ids (a client_secret_jwt salt, a user-code MAC) verify with the old HMAC key.
    const expected = createHmac('sha256', hmac).update('user_code:carol:1234').digest();
    expect(Buffer.from((await keys.macWith('acme', undefined, 'user_code:carol:1234'))!).equals(expected)).toBe(true);
    // And it still signs with the imported key.
    const jws = await keys.sign('acme', 'ES256', {}, { sub: 'carol' });
    expect((await verify(keys, jws)).protectedHeader.kid).toBe('old-kid');
  });
});
