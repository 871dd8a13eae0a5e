import { createHmac, randomBytes } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { JsonWebKeyPublic, SigningAlg } from '../model.ts';
import type { Clock, Directory, Keys, StoredSigningKey } from '../ports.ts';

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;
const publicPart = (jwk: JsonWebKeyPublic): JsonWebKeyPublic =>
  Object.fromEntries(PUBLIC_MEMBERS.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]])) as JsonWebKeyPublic;

/** The one HMAC key of a tenant: a fixed kid, so two processes creating it at once agree on the first one written. */
export const HMAC_KEY_KID = 'hmac/client-secret-jwt';
const isHmacKey = (k: StoredSigningKey): boolean => k.alg === 'HS256';

/**
 * Local mode signing keys: a generated JWK per tenant and algorithm, kept in the directory (KMS holds
 * them in AWS). The newest key of an algorithm signs; every signing key is published, so a new key overlaps
 * with the old ones. The tenant's 256-bit HMAC key (`mac`) is kept with them and never published.
 */
export class LocalKeys implements Keys {
  private readonly cache = new Map<string, Promise<StoredSigningKey[]>>();
  private readonly imported = new Map<string, Promise<CryptoKey | Uint8Array>>();

  constructor(
    private readonly directory: Pick<Directory, 'getSigningKeys' | 'putSigningKey'>,
    private readonly clock: Clock,
  ) {}

  private keysOf(tenantId: string): Promise<StoredSigningKey[]> {
    let keys = this.cache.get(tenantId);
    if (!keys) {
      keys = this.directory.getSigningKeys(tenantId);
      keys.catch(() => this.cache.delete(tenantId));
      this.cache.set(tenantId, keys);
    }
    return keys;
  }

  async ensureKey(tenantId: string, alg: SigningAlg): Promise<void> {
    if ((await this.keysOf(tenantId)).some((k) => k.alg === alg)) return;
    const { privateKey } = await generateKeyPair(alg, {
      extractable: true,
      ...(alg === 'ES256' ? {} : { modulusLength: 2048 }),
    });
    const privateJwk = (await exportJWK(privateKey)) as StoredSigningKey['privateJwk'];
    const kid = await calculateJwkThumbprint(publicPart(privateJwk) as JWK);
    await this.directory.putSigningKey(tenantId, { kid, alg, privateJwk, createdAt: this.clock.now() });
    this.cache.delete(tenantId);
  }

  private async current(tenantId: string, alg: SigningAlg): Promise<StoredSigningKey> {
    let candidates = (await this.keysOf(tenantId)).filter((k) => k.alg === alg);
    if (candidates.length === 0) {
      await this.ensureKey(tenantId, alg);
      candidates = (await this.keysOf(tenantId)).filter((k) => k.alg === alg);
    }
    const newest = candidates.sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!newest) throw new Error(`no ${alg} signing key for tenant ${tenantId}`);
    return newest;
  }

  async sign(tenantId: string, alg: SigningAlg, header: Record<string, unknown>, payload: Record<string, unknown>) {
    const key = await this.current(tenantId, alg);
    let privateKey = this.imported.get(key.kid);
    if (!privateKey) {
      privateKey = importJWK(key.privateJwk as JWK, alg);
      this.imported.set(key.kid, privateKey);
    }
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ ...header, alg, kid: key.kid })
      .sign(await privateKey);
  }

  async publicJwks(tenantId: string) {
    const keys = (await this.keysOf(tenantId)).filter((k) => !isHmacKey(k));
    return { keys: keys.map((k) => ({ ...publicPart(k.privateJwk), kid: k.kid, alg: k.alg, use: 'sig' })) };
  }

  async mac(tenantId: string, data: string): Promise<Uint8Array> {
    let key = (await this.keysOf(tenantId)).find(isHmacKey);
    if (!key) {
      const k = randomBytes(32).toString('base64url');
      // A conflict means another process wrote it first: the re-read below returns that one.
      await this.directory.putSigningKey(tenantId, {
        kid: HMAC_KEY_KID,
        alg: 'HS256',
        privateJwk: { kty: 'oct', k },
        createdAt: this.clock.now(),
      });
      this.cache.delete(tenantId);
      key = (await this.keysOf(tenantId)).find(isHmacKey);
    }
    if (!key?.privateJwk.k) throw new Error(`no HMAC key for tenant ${tenantId}`);
    return new Uint8Array(
      createHmac('sha256', Buffer.from(key.privateJwk.k, 'base64url')).update(data, 'utf8').digest(),
    );
  }
}
