import { createHmac, randomBytes } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import {
  addSigningKey,
  currentMacKey,
  describeKeys,
  macKeyOf,
  needsMacKey,
  needsSigningKey,
  publishedKeys,
  signingKeyOf,
} from '../keyset.ts';
import type {
  JsonWebKeyPublic,
  KeyMode,
  MacKeyRecord,
  SigningAlg,
  SigningKeyRecord,
  SigningKeyView,
  TenantKeyset,
} from '../model.ts';
import type { KeysetStore } from '../persistence.ts';
import type { Clock, Keys, Logger, SigningKeyStore } from '../ports.ts';

/** What sealed key material is bound to (the KMS encryption context in AWS): the tenant, the key's use and id. */
export interface SealContext {
  tenantId: string;
  use: 'signing' | 'mac';
  id: string;
}

/** KMS keys of a tenant's own (`key_mode: "kms"`, and the per-tenant HMAC keys of deployments before keysets). */
export interface KmsKeyOperations {
  createSigningKey(tenantId: string, alg: SigningAlg): Promise<{ keyId: string; publicJwk: JsonWebKeyPublic }>;
  /** The JWS signature (RFC 7518 form) over `signingInput` with the key. */
  sign(keyId: string, alg: SigningAlg, signingInput: Uint8Array): Promise<Uint8Array>;
  mac(keyId: string, data: Uint8Array): Promise<Uint8Array>;
  scheduleDeletion(keyId: string): Promise<void>;
}

/**
 * Where secret key material is sealed: KMS in AWS (lib/adapters/kms-keys.ts), nowhere locally (lib/adapters/local-keys.ts:
 * local mode keeps generated keys in its own store). `kms` is absent where KMS keys cannot be made (local mode, whose
 * `kms` tenants get a generated key).
 */
export interface KeyVault {
  seal(context: SealContext, plaintext: Uint8Array): Promise<string>;
  open(context: SealContext, sealed: string): Promise<Uint8Array>;
  readonly kms?: KmsKeyOperations;
}

export interface TenantKeysOptions {
  /** Where the keysets are kept. */
  keysets: KeysetStore;
  /** Local mode: its keys of the layout before keysets, imported once (with `createOnUse`). */
  legacyKeys?: SigningKeyStore;
  vault: KeyVault;
  clock: Clock;
  logger?: Logger;
  /** How long a process keeps a tenant's keyset before reading it again (default 60 s). */
  cacheTtlMs?: number;
  /**
   * How long after a rotation the new key starts signing (published at once): at least `cacheTtlMs` wherever more than
   * one process serves the tenant, so that every JWKS answer holds a key before any process signs with it.
   */
  activationDelayMs?: number;
  /** Local mode: a tenant without keys gets them on first use, and keys of the layout before keysets are imported. */
  createOnUse?: boolean;
}

/** MACs of KMS keys (the legacy HMAC keys) kept per process, one per client secret or user code in use. */
const KMS_MAC_CACHE_SIZE = 1000;
const SAVE_ATTEMPTS = 3;

const b64u = (bytes: Uint8Array | string): string =>
  (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes)).toString('base64url');

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;
export const publicPart = (jwk: JsonWebKeyPublic): JsonWebKeyPublic =>
  Object.fromEntries(PUBLIC_MEMBERS.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]])) as JsonWebKeyPublic;

/**
 * A tenant's keys from its keyset item (lib/keyset.ts has the rules). `wrapped` keys sign in memory: the private
 * half is opened once per process and key, so a warm function signs without calling KMS. `kms` keys sign in KMS.
 * The keyset is kept per process for `cacheTtlMs`; this process's own changes are seen at once.
 */
export class TenantKeys implements Keys {
  readonly #store: KeysetStore;
  readonly #legacyKeys: SigningKeyStore | undefined;
  readonly #vault: KeyVault;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #ttl: number;
  readonly #delay: number;
  readonly #createOnUse: boolean;
  readonly #keysets = new Map<string, { at: number; value: Promise<TenantKeyset | undefined> }>();
  readonly #privateKeys = new Map<string, Promise<CryptoKey | Uint8Array>>();
  readonly #macSecrets = new Map<string, Promise<Uint8Array>>();
  readonly #kmsMacs = new Map<string, Promise<Uint8Array>>();

  constructor(options: TenantKeysOptions) {
    this.#store = options.keysets;
    this.#legacyKeys = options.legacyKeys;
    this.#vault = options.vault;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#ttl = options.cacheTtlMs ?? 60_000;
    this.#delay = options.activationDelayMs ?? this.#ttl;
    this.#createOnUse = options.createOnUse ?? false;
  }

  async sign(
    tenantId: string,
    alg: SigningAlg,
    header: Record<string, unknown>,
    payload: Record<string, unknown>,
  ): Promise<string> {
    let key = signingKeyOf((await this.#keyset(tenantId)) ?? empty(tenantId), alg, this.#clock.now());
    if (!key && this.#createOnUse) {
      await this.ensureKeys(tenantId, { alg, mode: 'wrapped' });
      key = signingKeyOf((await this.#keyset(tenantId)) ?? empty(tenantId), alg, this.#clock.now());
    }
    if (!key) throw new Error(`tenant ${tenantId} has no ${alg} signing key`);
    const protectedHeader = { ...header, alg, kid: key.kid };
    if (key.mode === 'kms') {
      const signingInput = `${b64u(JSON.stringify(protectedHeader))}.${b64u(JSON.stringify(payload))}`;
      const signature = await this.#kms().sign(key.kmsKeyId!, alg, Buffer.from(signingInput, 'ascii'));
      return `${signingInput}.${b64u(signature)}`;
    }
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader(protectedHeader)
      .sign(await this.#privateKey(tenantId, key));
  }

  async publicJwks(tenantId: string): Promise<{ keys: JsonWebKeyPublic[] }> {
    const keyset = await this.#keyset(tenantId);
    if (!keyset) return { keys: [] };
    return {
      keys: publishedKeys(keyset, this.#clock.now()).map((k) => ({
        ...publicPart(k.publicJwk),
        kid: k.kid,
        alg: k.alg,
        use: 'sig',
      })),
    };
  }

  async mac(tenantId: string, data: string): Promise<{ keyId: string; mac: Uint8Array }> {
    let key = currentMacKey((await this.#keyset(tenantId)) ?? empty(tenantId));
    if (!key && this.#createOnUse) {
      await this.#ensure(tenantId, undefined);
      key = currentMacKey((await this.#keyset(tenantId)) ?? empty(tenantId));
    }
    if (!key) throw new Error(`tenant ${tenantId} has no MAC key`);
    return { keyId: key.id, mac: await this.#macWith(tenantId, key, data) };
  }

  async macWith(tenantId: string, keyId: string | undefined, data: string): Promise<Uint8Array | undefined> {
    let key = macKeyOf((await this.#keyset(tenantId)) ?? empty(tenantId), keyId);
    if (!key && keyId !== undefined) {
      // A key made after this process read the keyset: read it again once.
      this.#keysets.delete(tenantId);
      key = macKeyOf((await this.#keyset(tenantId)) ?? empty(tenantId), keyId);
    }
    return key && this.#macWith(tenantId, key, data);
  }

  async ensureKeys(tenantId: string, want: { alg: SigningAlg; mode: KeyMode }): Promise<void> {
    await this.#ensure(tenantId, want);
  }

  async rotate(tenantId: string, want: { alg: SigningAlg; mode: KeyMode }): Promise<SigningKeyView[]> {
    const keyset = await this.#ensure(tenantId, want, { rotate: true });
    return describeKeys(keyset, this.#clock.now());
  }

  async describe(tenantId: string): Promise<SigningKeyView[]> {
    const keyset = await this.#read(tenantId);
    return keyset ? describeKeys(keyset, this.#clock.now()) : [];
  }

  async removeWithTenant(tenantId: string, remove: () => Promise<boolean>): Promise<boolean> {
    const keyset = await this.#store.get(tenantId);
    const removed = await remove();
    this.#forget(tenantId);
    if (!removed || !keyset) return removed;
    const kmsKeys = [...keyset.signing, ...keyset.mac].flatMap((k) => (k.kmsKeyId ? [k.kmsKeyId] : []));
    await this.#scheduleDeletion(tenantId, kmsKeys);
    return removed;
  }

  // ---- keyset changes -------------------------------------------------------------------------------------------

  /**
   * Reads the keyset and saves it with what `want` (or a rotation) asks for, conditional on what was read; a KMS key
   * made for a save that lost is scheduled for deletion, and the change is tried again on what won.
   */
  async #ensure(
    tenantId: string,
    want: { alg: SigningAlg; mode: KeyMode } | undefined,
    options: { rotate?: boolean } = {},
  ): Promise<TenantKeyset> {
    const mode: KeyMode = want?.mode === 'kms' && this.#vault.kms ? 'kms' : 'wrapped';
    for (let attempt = 1; attempt <= SAVE_ATTEMPTS; attempt++) {
      const read = await this.#read(tenantId);
      const now = this.#clock.now();
      let keyset = read ?? empty(tenantId, now);
      let changed = false;
      const made: string[] = [];
      let dropped: SigningKeyRecord[] = [];
      try {
        if (want && (options.rotate || needsSigningKey(read, { alg: want.alg, mode }))) {
          // The tenant's first key signs at once: nothing signed before it.
          const activeFrom = keyset.signing.length === 0 ? now : now + this.#delay;
          const key = await this.#newSigningKey(tenantId, want.alg, mode, now, activeFrom);
          if (key.kmsKeyId) made.push(key.kmsKeyId);
          ({ keyset, dropped } = addSigningKey(keyset, key, now));
          changed = true;
        }
        if (needsMacKey(keyset)) {
          keyset = { ...keyset, mac: [...keyset.mac, await this.#newMacKey(tenantId, now)] };
          changed = true;
        }
      } catch (error) {
        await this.#scheduleDeletion(tenantId, made);
        throw error;
      }
      if (!changed && read) return read;
      const outcome = await this.#store.save(
        { ...keyset, updatedAt: Math.max(now, (read?.updatedAt ?? 0) + 1) },
        read ? read.updatedAt : null,
      );
      this.#forget(tenantId);
      if (outcome === 'ok') {
        await this.#scheduleDeletion(
          tenantId,
          dropped.flatMap((k) => (k.kmsKeyId ? [k.kmsKeyId] : [])),
        );
        return (await this.#read(tenantId)) ?? keyset;
      }
      await this.#scheduleDeletion(tenantId, made);
    }
    throw new Error(`the keys of tenant ${tenantId} changed concurrently ${SAVE_ATTEMPTS} times; retry`);
  }

  async #newSigningKey(
    tenantId: string,
    alg: SigningAlg,
    mode: KeyMode,
    now: number,
    activeFrom: number,
  ): Promise<SigningKeyRecord> {
    if (mode === 'kms') {
      const { keyId, publicJwk } = await this.#kms().createSigningKey(tenantId, alg);
      const kid = await calculateJwkThumbprint(publicPart(publicJwk) as JWK);
      return { kid, alg, mode, publicJwk: publicPart(publicJwk), createdAt: now, activeFrom, kmsKeyId: keyId };
    }
    const { privateKey } = await generateKeyPair(alg, {
      extractable: true,
      ...(alg === 'ES256' ? {} : { modulusLength: 2048 }),
    });
    const privateJwk = await exportJWK(privateKey);
    const publicJwk = publicPart(privateJwk as JsonWebKeyPublic);
    const kid = await calculateJwkThumbprint(publicJwk as JWK);
    const sealed = await this.#vault.seal(
      { tenantId, use: 'signing', id: kid },
      new TextEncoder().encode(JSON.stringify(privateJwk)),
    );
    return { kid, alg, mode: 'wrapped', publicJwk, createdAt: now, activeFrom, sealed };
  }

  async #newMacKey(tenantId: string, now: number): Promise<MacKeyRecord> {
    const id = `m${randomBytes(6).toString('hex')}`;
    const sealed = await this.#vault.seal({ tenantId, use: 'mac', id }, randomBytes(32));
    return { id, mode: 'wrapped', createdAt: now, sealed };
  }

  async #scheduleDeletion(tenantId: string, keyIds: string[]): Promise<void> {
    for (const keyId of keyIds) {
      await this.#kms()
        .scheduleDeletion(keyId)
        .catch((error: unknown) =>
          // The key then stays (disabled by nothing, used by nothing): an operator may schedule its deletion by hand.
          this.#logger?.warn('KMS key not scheduled for deletion', {
            tenant: tenantId,
            key_id: keyId,
            error: error instanceof Error ? error.name : String(error),
          }),
        );
    }
  }

  // ---- reading and using keys -----------------------------------------------------------------------------------

  /** The keyset as stored now (no cache); local mode imports keys of the layout before keysets. */
  async #read(tenantId: string): Promise<TenantKeyset | undefined> {
    const keyset = await this.#store.get(tenantId);
    if (keyset || !this.#createOnUse) return keyset;
    return this.#importLocalLayout(tenantId);
  }

  #keyset(tenantId: string): Promise<TenantKeyset | undefined> {
    const now = this.#clock.now();
    const hit = this.#keysets.get(tenantId);
    if (hit && now - hit.at < this.#ttl) return hit.value;
    const value = this.#read(tenantId);
    this.#keysets.set(tenantId, { at: now, value });
    value.catch(() => this.#keysets.delete(tenantId));
    return value;
  }

  #forget(tenantId: string): void {
    this.#keysets.delete(tenantId);
  }

  #kms(): KmsKeyOperations {
    if (!this.#vault.kms) throw new Error('KMS keys are not available here');
    return this.#vault.kms;
  }

  /** The private half of a wrapped key, opened once per process and key. */
  #privateKey(tenantId: string, key: SigningKeyRecord): Promise<CryptoKey | Uint8Array> {
    let value = this.#privateKeys.get(key.kid);
    if (!value) {
      value = (async () => {
        if (!key.sealed) throw new Error(`the ${key.kid} key of tenant ${tenantId} has no private half`);
        const plain = await this.#vault.open({ tenantId, use: 'signing', id: key.kid }, key.sealed);
        return importJWK(JSON.parse(new TextDecoder().decode(plain)) as JWK, key.alg);
      })();
      value.catch(() => this.#privateKeys.delete(key.kid));
      this.#privateKeys.set(key.kid, value);
    }
    return value;
  }

  async #macWith(tenantId: string, key: MacKeyRecord, data: string): Promise<Uint8Array> {
    if (key.mode === 'kms') {
      const cacheKey = `${key.kmsKeyId}\u0000${data}`;
      let mac = this.#kmsMacs.get(cacheKey);
      if (!mac) {
        mac = this.#kms().mac(key.kmsKeyId!, Buffer.from(data, 'utf8'));
        if (this.#kmsMacs.size >= KMS_MAC_CACHE_SIZE) this.#kmsMacs.delete(this.#kmsMacs.keys().next().value!);
        this.#kmsMacs.set(cacheKey, mac);
        mac.catch(() => this.#kmsMacs.delete(cacheKey));
      }
      return mac;
    }
    const secretKey = `${tenantId}\u0000${key.id}`;
    let secret = this.#macSecrets.get(secretKey);
    if (!secret) {
      if (!key.sealed) throw new Error(`the MAC key ${key.id} of tenant ${tenantId} has no secret`);
      secret = this.#vault.open({ tenantId, use: 'mac', id: key.id }, key.sealed);
      secret.catch(() => this.#macSecrets.delete(secretKey));
      this.#macSecrets.set(secretKey, secret);
    }
    return new Uint8Array(
      createHmac('sha256', await secret)
        .update(data, 'utf8')
        .digest(),
    );
  }

  /**
   * Local mode's keys of the layout before keysets (one item per key, the HMAC key as `HS256`): imported into a keyset
   * once, so that tokens they signed keep verifying and client_secret_jwt secrets and user codes stay the same.
   */
  async #importLocalLayout(tenantId: string): Promise<TenantKeyset | undefined> {
    const old = (await this.#legacyKeys?.getSigningKeys(tenantId)) ?? [];
    if (old.length === 0) return undefined;
    const now = this.#clock.now();
    const signing: SigningKeyRecord[] = [];
    const mac: MacKeyRecord[] = [];
    for (const k of old) {
      const sealed = await this.#vault.seal(
        { tenantId, use: k.alg === 'HS256' ? 'mac' : 'signing', id: k.kid },
        k.alg === 'HS256'
          ? Buffer.from(k.privateJwk.k ?? '', 'base64url')
          : new TextEncoder().encode(JSON.stringify(k.privateJwk)),
      );
      if (k.alg === 'HS256') mac.push({ id: k.kid, mode: 'wrapped', createdAt: k.createdAt, sealed, legacy: true });
      else
        signing.push({
          kid: k.kid,
          alg: k.alg,
          mode: 'wrapped',
          publicJwk: publicPart(k.privateJwk),
          createdAt: k.createdAt,
          activeFrom: k.createdAt,
          sealed,
        });
    }
    const keyset: TenantKeyset = { tenantId, signing, mac, createdAt: now, updatedAt: now };
    // A conflict: another process imported them first; its keyset is the one.
    await this.#store.save(keyset, null);
    return this.#store.get(tenantId);
  }
}

const empty = (tenantId: string, now = 0): TenantKeyset => ({
  tenantId,
  signing: [],
  mac: [],
  createdAt: now,
  updatedAt: now,
});
