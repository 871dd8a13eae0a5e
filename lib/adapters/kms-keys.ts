import { createHash, createPublicKey } from 'node:crypto';
import {
  GenerateMacCommand,
  GetPublicKeyCommand,
  type KeySpec,
  type KMSClient,
  NotFoundException,
  SignCommand,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { JsonWebKeyPublic, SigningAlg } from '../model.ts';
import type { Clock, Keys } from '../ports.ts';

/** KMS signing algorithm per JWS `alg` (RFC 7518 §3.1). KMS uses a salt as long as the digest for PSS, as RFC 7518 §3.5 asks. */
export const KMS_SIGNING_ALGORITHM: Record<SigningAlg, SigningAlgorithmSpec> = {
  ES256: 'ECDSA_SHA_256',
  PS256: 'RSASSA_PSS_SHA_256',
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
};

/** The KMS key spec the infrastructure creates for each `alg`. */
export const KMS_KEY_SPEC: Record<SigningAlg, KeySpec> = {
  ES256: 'ECC_NIST_P256',
  PS256: 'RSA_2048',
  RS256: 'RSA_2048',
};

/** The alias of the key that signed before the last rotation (still published, so tokens it signed verify). */
export const previousKeyAlias = (aliasPrefix: string, tenantId: string): string => `${aliasPrefix}${tenantId}/previous`;
export const currentKeyAlias = (aliasPrefix: string, tenantId: string): string => `${aliasPrefix}${tenantId}`;
/** The tenant's HMAC_256 key (GENERATE_VERIFY_MAC): client_secret_jwt secrets are derived with it. */
export const hmacKeyAlias = (aliasPrefix: string, tenantId: string): string => `${aliasPrefix}${tenantId}/hmac`;

/** KMS signs RAW messages up to 4096 bytes; longer signing inputs are sent as their SHA-256 digest. */
const RAW_MESSAGE_LIMIT = 4096;

interface ResolvedKey {
  /** The key ARN: signing uses it (not the alias) so the `kid` and the signature always come from the same key. */
  keyArn: string;
  keySpec: string;
  jwk: JsonWebKeyPublic & { kid: string };
}

export interface KmsKeysOptions {
  client: KMSClient;
  /** e.g. `alias/ciba/`: the tenant's key is `${aliasPrefix}${tenantId}`. */
  aliasPrefix: string;
  clock?: Clock;
  /** How long a resolved public key is kept: bounds how long a warm function signs with a rotated-out key. */
  cacheTtlMs?: number;
}

/**
 * Signs with the tenant's asymmetric KMS key; the private key never leaves KMS.
 * Keys are found by alias (`alias/ciba/{tenant}` and, after a rotation, `alias/ciba/{tenant}/previous`),
 * and their public halves are cached per Lambda instance for `cacheTtlMs`.
 */
/** Derived client secrets kept per cold start (one entry per client_secret_jwt client in use). */
const MAC_CACHE_SIZE = 1000;

export class KmsKeys implements Keys {
  readonly #client: KMSClient;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #ttl: number;
  readonly #cache = new Map<string, { at: number; value: Promise<ResolvedKey | undefined> }>();
  /** MACs are deterministic: kept per cold start (bounded), so repeated assertions of one client cost one KMS call. */
  readonly #macs = new Map<string, Promise<Uint8Array>>();

  constructor({ client, aliasPrefix, clock = { now: Date.now }, cacheTtlMs = 5 * 60_000 }: KmsKeysOptions) {
    this.#client = client;
    this.#prefix = aliasPrefix;
    this.#clock = clock;
    this.#ttl = cacheTtlMs;
  }

  async sign(
    tenantId: string,
    alg: SigningAlg,
    header: Record<string, unknown>,
    payload: Record<string, unknown>,
  ): Promise<string> {
    const key = await this.#requireKey(tenantId, alg);
    const signingInput = `${b64u(JSON.stringify({ ...header, alg, kid: key.jwk.kid }))}.${b64u(JSON.stringify(payload))}`;
    const message = Buffer.from(signingInput, 'ascii');
    const raw = message.length <= RAW_MESSAGE_LIMIT;
    const out = await this.#client.send(
      new SignCommand({
        KeyId: key.keyArn,
        Message: raw ? message : createHash('sha256').update(message).digest(),
        MessageType: raw ? 'RAW' : 'DIGEST',
        SigningAlgorithm: KMS_SIGNING_ALGORITHM[alg],
      }),
    );
    if (!out.Signature) throw new Error('KMS Sign returned no signature');
    // RFC 7518 §3.4: an ECDSA JWS signature is R || S, not the DER structure KMS returns.
    const signature = alg === 'ES256' ? derToJoseEcdsa(out.Signature, 32) : out.Signature;
    return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
  }

  async publicJwks(tenantId: string): Promise<{ keys: JsonWebKeyPublic[] }> {
    const [current, previous] = await Promise.all([
      this.#resolve(currentKeyAlias(this.#prefix, tenantId)),
      this.#resolve(previousKeyAlias(this.#prefix, tenantId)),
    ]);
    const keys: JsonWebKeyPublic[] = [];
    for (const key of [current, previous]) {
      if (key && !keys.some((k) => k.kid === key.jwk.kid)) keys.push(key.jwk);
    }
    return { keys };
  }

  /** HMAC-SHA256 in KMS with the key behind `${prefix}${tenant}/hmac`: the key never leaves KMS. */
  async mac(tenantId: string, data: string): Promise<Uint8Array> {
    const key = `${tenantId}\u0000${data}`;
    const hit = this.#macs.get(key);
    if (hit) return hit;
    const value = (async () => {
      const out = await this.#client.send(
        new GenerateMacCommand({
          KeyId: hmacKeyAlias(this.#prefix, tenantId),
          Message: Buffer.from(data, 'utf8'),
          MacAlgorithm: 'HMAC_SHA_256',
        }),
      );
      if (!out.Mac) throw new Error('KMS GenerateMac returned no MAC');
      return out.Mac;
    })();
    if (this.#macs.size >= MAC_CACHE_SIZE) this.#macs.delete(this.#macs.keys().next().value!);
    this.#macs.set(key, value);
    value.catch(() => this.#macs.delete(key));
    return value;
  }

  /** Keys come from the infrastructure in AWS: this only checks that the tenant's key exists and fits `alg`. */
  async ensureKey(tenantId: string, alg: SigningAlg): Promise<void> {
    await this.#requireKey(tenantId, alg);
  }

  async #requireKey(tenantId: string, alg: SigningAlg): Promise<ResolvedKey> {
    const key = await this.#resolve(currentKeyAlias(this.#prefix, tenantId));
    if (!key) throw new Error(`no KMS signing key for tenant ${tenantId}`);
    if (key.keySpec !== KMS_KEY_SPEC[alg]) {
      throw new Error(`the KMS key of tenant ${tenantId} is ${key.keySpec}, which cannot sign ${alg}`);
    }
    return key;
  }

  #resolve(alias: string): Promise<ResolvedKey | undefined> {
    const now = this.#clock.now();
    const hit = this.#cache.get(alias);
    if (hit && now - hit.at < this.#ttl) return hit.value;
    const value = this.#fetch(alias);
    this.#cache.set(alias, { at: now, value });
    // A failed lookup (throttling, network) is not remembered.
    value.catch(() => this.#cache.delete(alias));
    return value;
  }

  async #fetch(alias: string): Promise<ResolvedKey | undefined> {
    try {
      const out = await this.#client.send(new GetPublicKeyCommand({ KeyId: alias }));
      if (!out.PublicKey || !out.KeyId || !out.KeySpec)
        throw new Error(`KMS GetPublicKey returned no key for ${alias}`);
      return { keyArn: out.KeyId, keySpec: out.KeySpec, jwk: await spkiToJwk(out.PublicKey, out.KeySpec) };
    } catch (error) {
      if (error instanceof NotFoundException || (error as { name?: string }).name === 'NotFoundException') {
        return undefined;
      }
      throw error;
    }
  }
}

/** SPKI DER (what KMS GetPublicKey returns) → public JWK with its RFC 7638 thumbprint as `kid`. */
export const spkiToJwk = async (spki: Uint8Array, keySpec: string): Promise<JsonWebKeyPublic & { kid: string }> => {
  const exported = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const jwk: JsonWebKeyPublic =
    exported.kty === 'EC'
      ? { kty: 'EC', crv: exported.crv as string, x: exported.x as string, y: exported.y as string }
      : { kty: 'RSA', n: exported.n as string, e: exported.e as string };
  const kid = await calculateJwkThumbprint(jwk as JWK, 'sha256');
  // An RSA key can sign PS256 and RS256 alike, so only the EC key names its `alg`.
  return { ...jwk, kid, use: 'sig', ...(keySpec === 'ECC_NIST_P256' ? { alg: 'ES256' } : {}) };
};

/**
 * ECDSA-Sig-Value (RFC 3279 §2.2.3: SEQUENCE { r INTEGER, s INTEGER }) → the fixed-length R || S of
 * RFC 7518 §3.4, each integer left-padded (or stripped of its sign byte) to `size` bytes.
 */
export const derToJoseEcdsa = (der: Uint8Array, size: number): Uint8Array => {
  let offset = 0;
  const expect = (tag: number) => {
    if (der[offset++] !== tag) throw new Error('malformed ECDSA signature');
  };
  const readLength = (): number => {
    const first = der[offset++];
    if (first === undefined) throw new Error('malformed ECDSA signature');
    if (first < 0x80) return first;
    const count = first & 0x7f;
    let length = 0;
    for (let i = 0; i < count; i++) length = (length << 8) | (der[offset++] ?? 0);
    return length;
  };
  const readInteger = (): Uint8Array => {
    expect(0x02);
    const length = readLength();
    let bytes = der.subarray(offset, offset + length);
    offset += length;
    while (bytes.length > size && bytes[0] === 0) bytes = bytes.subarray(1);
    if (bytes.length > size) throw new Error('malformed ECDSA signature');
    const out = new Uint8Array(size);
    out.set(bytes, size - bytes.length);
    return out;
  };
  expect(0x30);
  readLength();
  const r = readInteger();
  const s = readInteger();
  const out = new Uint8Array(size * 2);
  out.set(r, 0);
  out.set(s, size);
  return out;
};

const b64u = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');
