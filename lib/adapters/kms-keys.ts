import { createHash, createPublicKey } from 'node:crypto';
import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  type KeySpec,
  type KMSClient,
  ListAliasesCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { JsonWebKeyPublic, MacKeyRecord, SigningAlg, SigningKeyRecord, TenantKeyset } from '../model.ts';
import type { KeyVault, KmsKeyOperations, SealContext } from './tenant-keys.ts';

/** KMS signing algorithm per JWS `alg` (RFC 7518 §3.1). KMS uses a salt as long as the digest for PSS, as RFC 7518 §3.5 asks. */
export const KMS_SIGNING_ALGORITHM: Record<SigningAlg, SigningAlgorithmSpec> = {
  ES256: 'ECDSA_SHA_256',
  PS256: 'RSASSA_PSS_SHA_256',
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
};

/** The KMS key spec of a tenant's `kms` key for each `alg`. */
export const KMS_KEY_SPEC: Record<SigningAlg, KeySpec> = {
  ES256: 'ECC_NIST_P256',
  PS256: 'RSA_2048',
  RS256: 'RSA_2048',
};

/** The tag every KMS key this service creates carries (IAM allows using keys by it), and the tenant's. */
export const DEPLOYMENT_TAG = 'ciba:deployment';
export const TENANT_TAG = 'ciba:tenant';

/** How long a scheduled deletion of a KMS key waits (KMS: 7 to 30 days). */
const DELETION_WINDOW_DAYS = 30;

/** KMS signs RAW messages up to 4096 bytes; longer signing inputs are sent as their SHA-256 digest. */
const RAW_MESSAGE_LIMIT = 4096;

/** The encryption context key IAM conditions name (`kms:EncryptionContext:key_use`). */
export const KEY_USE_CONTEXT = 'key_use';

/**
 * The KMS encryption context of sealed key material: the tenant, the use and the key id. A ciphertext opens only with
 * the same context, so a tenant's sealed key cannot be passed off as another tenant's (or a MAC key as a signing key),
 * and IAM lets each function decrypt only the uses it needs (`kms:EncryptionContext:key_use`).
 */
export const encryptionContext = (context: SealContext): Record<string, string> => ({
  tenant: context.tenantId,
  [KEY_USE_CONTEXT]: context.use,
  key_id: context.id,
});

export interface KmsKeyVaultOptions {
  client: KMSClient;
  /** The deployment's symmetric KMS key (alias or ARN) that seals every tenant's wrapped keys. */
  sealingKeyId: string;
  /** The deployment's name: the tag of every KMS key created for a tenant (`key_mode: "kms"`). */
  deployment: string;
}

/**
 * KMS in AWS: seals tenants' wrapped keys under the deployment's key (Encrypt/Decrypt with the encryption context
 * above), and makes, uses and retires tenants' own KMS keys (`key_mode: "kms"`; CreateKey at provisioning, a Sign per
 * token, ScheduleKeyDeletion when no longer needed).
 */
export class KmsKeyVault implements KeyVault {
  readonly #client: KMSClient;
  readonly #sealingKeyId: string;
  readonly #deployment: string;

  constructor({ client, sealingKeyId, deployment }: KmsKeyVaultOptions) {
    this.#client = client;
    this.#sealingKeyId = sealingKeyId;
    this.#deployment = deployment;
  }

  async seal(context: SealContext, plaintext: Uint8Array): Promise<string> {
    const out = await this.#client.send(
      new EncryptCommand({
        KeyId: this.#sealingKeyId,
        Plaintext: plaintext,
        EncryptionContext: encryptionContext(context),
      }),
    );
    if (!out.CiphertextBlob) throw new Error('KMS Encrypt returned no ciphertext');
    return `kms:${Buffer.from(out.CiphertextBlob).toString('base64')}`;
  }

  async open(context: SealContext, sealed: string): Promise<Uint8Array> {
    if (!sealed.startsWith('kms:')) throw new Error(`the ${context.use} key ${context.id} was not sealed with KMS`);
    const out = await this.#client.send(
      new DecryptCommand({
        KeyId: this.#sealingKeyId,
        CiphertextBlob: Buffer.from(sealed.slice(4), 'base64'),
        EncryptionContext: encryptionContext(context),
      }),
    );
    if (!out.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
    return out.Plaintext;
  }

  readonly kms: KmsKeyOperations = {
    createSigningKey: async (tenantId, alg) => {
      const created = await this.#client.send(
        new CreateKeyCommand({
          KeySpec: KMS_KEY_SPEC[alg],
          KeyUsage: 'SIGN_VERIFY',
          Description: `ciba ${this.#deployment} ${tenantId} token signing key (${alg})`,
          Tags: [
            { TagKey: DEPLOYMENT_TAG, TagValue: this.#deployment },
            { TagKey: TENANT_TAG, TagValue: tenantId },
          ],
        }),
      );
      const keyId = created.KeyMetadata?.Arn;
      if (!keyId) throw new Error('KMS CreateKey returned no key');
      return { keyId, publicJwk: (await publicKeyOf(this.#client, keyId)).jwk };
    },
    sign: async (keyId, alg, signingInput) => {
      const raw = signingInput.length <= RAW_MESSAGE_LIMIT;
      const out = await this.#client.send(
        new SignCommand({
          KeyId: keyId,
          Message: raw ? signingInput : createHash('sha256').update(signingInput).digest(),
          MessageType: raw ? 'RAW' : 'DIGEST',
          SigningAlgorithm: KMS_SIGNING_ALGORITHM[alg],
        }),
      );
      if (!out.Signature) throw new Error('KMS Sign returned no signature');
      // RFC 7518 §3.4: an ECDSA JWS signature is R || S, not the DER structure KMS returns.
      return alg === 'ES256' ? derToJoseEcdsa(out.Signature, 32) : out.Signature;
    },
    mac: async (keyId, data) => {
      const out = await this.#client.send(
        new GenerateMacCommand({ KeyId: keyId, Message: data, MacAlgorithm: 'HMAC_SHA_256' }),
      );
      if (!out.Mac) throw new Error('KMS GenerateMac returned no MAC');
      return out.Mac;
    },
    scheduleDeletion: async (keyId) => {
      await this.#client.send(
        new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: DELETION_WINDOW_DAYS }),
      );
    },
  };
}

const publicKeyOf = async (
  client: KMSClient,
  keyId: string,
): Promise<{ keyArn: string; keySpec: string; jwk: JsonWebKeyPublic & { kid: string } }> => {
  const out = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (!out.PublicKey || !out.KeyId || !out.KeySpec) throw new Error(`KMS GetPublicKey returned no key for ${keyId}`);
  return { keyArn: out.KeyId, keySpec: out.KeySpec, jwk: await spkiToJwk(out.PublicKey, out.KeySpec) };
};

/**
 * Deployments before keysets kept each tenant's keys in KMS behind aliases: the signing key at `{prefix}{tenant}`, the
 * one before the last rotation at `{prefix}{tenant}/previous`, the HMAC key of client_secret_jwt secrets and user-code
 * MACs at `{prefix}{tenant}/hmac`. These aliases, per tenant, from one listing of the account's aliases.
 */
export const listLegacyKeys = async (
  client: KMSClient,
  aliasPrefix: string,
): Promise<Map<string, { current?: string; previous?: string; hmac?: string }>> => {
  const tenants = new Map<string, { current?: string; previous?: string; hmac?: string }>();
  let marker: string | undefined;
  do {
    const page = await client.send(new ListAliasesCommand({ Limit: 100, ...(marker ? { Marker: marker } : {}) }));
    for (const alias of page.Aliases ?? []) {
      if (!alias.AliasName?.startsWith(aliasPrefix) || !alias.TargetKeyId || !alias.AliasArn) continue;
      const [tenantId, role = 'current', ...rest] = alias.AliasName.slice(aliasPrefix.length).split('/');
      if (!tenantId || rest.length > 0 || !['current', 'previous', 'hmac'].includes(role)) continue;
      const arn = alias.AliasArn.replace(/:alias\/.*$/, `:key/${alias.TargetKeyId}`);
      tenants.set(tenantId, { ...tenants.get(tenantId), [role]: arn });
    }
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return tenants;
};

/**
 * A keyset made of a tenant's keys from before keysets (listLegacyKeys), so that nothing they keyed is lost: the old
 * signing keys as `kms` keys (the current one signs until the tenant's new key becomes active, and both stay published
 * until the tokens they signed have expired), and the old HMAC key as the legacy MAC key (client_secret_jwt secrets
 * and user codes made with it keep verifying). `alg`: the tenant's signing algorithm; an RSA key from before the last
 * rotation is taken to have signed the same, or PS256 (the RSA algorithm FAPI tenants use) when the tenant is ES256.
 */
export const legacyKeyset = async (
  client: KMSClient,
  tenantId: string,
  legacy: { current?: string; previous?: string; hmac?: string },
  alg: SigningAlg,
  now: number,
): Promise<TenantKeyset> => {
  const signing: SigningKeyRecord[] = [];
  for (const [role, keyId] of [
    ['previous', legacy.previous],
    ['current', legacy.current],
  ] as const) {
    if (!keyId) continue;
    const key = await publicKeyOf(client, keyId);
    const keyAlg: SigningAlg = key.keySpec === 'ECC_NIST_P256' ? 'ES256' : alg === 'ES256' ? 'PS256' : alg;
    const { kid, alg: _alg, use: _use, ...publicJwk } = key.jwk;
    signing.push({
      kid,
      alg: keyAlg,
      mode: 'kms',
      publicJwk,
      createdAt: now,
      // The previous key before the current one: the order is what decides.
      activeFrom: role === 'previous' ? now - 2 : now - 1,
      kmsKeyId: key.keyArn,
    });
  }
  const mac: MacKeyRecord[] = legacy.hmac
    ? [{ id: 'legacy', mode: 'kms', createdAt: now, kmsKeyId: legacy.hmac, legacy: true }]
    : [];
  return { tenantId, signing, mac, createdAt: now, updatedAt: now };
};

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
