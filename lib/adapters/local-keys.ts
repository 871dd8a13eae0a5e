import type { KeysetStore } from '../persistence.ts';
import type { Clock, SigningKeyStore } from '../ports.ts';
import { type KeyVault, type SealContext, TenantKeys } from './tenant-keys.ts';

/**
 * Local mode has no KMS: key material is kept as it is in the local store (`.data/`, or memory), which is the local
 * mode's trust boundary (SECURITY.md). `plain:` marks it, so that such a key is never taken for a sealed one.
 */
export class LocalKeyVault implements KeyVault {
  async seal(_context: SealContext, plaintext: Uint8Array): Promise<string> {
    return `plain:${Buffer.from(plaintext).toString('base64url')}`;
  }

  async open(context: SealContext, sealed: string): Promise<Uint8Array> {
    if (!sealed.startsWith('plain:')) {
      throw new Error(`the ${context.use} key ${context.id} of tenant ${context.tenantId} is sealed with KMS`);
    }
    return Buffer.from(sealed.slice('plain:'.length), 'base64url');
  }
}

/**
 * Local mode's keys: generated on first use (a `kms` tenant gets a generated key too), kept in the local store, keys
 * of the layout before keysets imported once. A rotation signs at once: one process serves every request, and its
 * own changes reach its cache at once.
 */
export class LocalKeys extends TenantKeys {
  constructor(stores: { keysets: KeysetStore; legacyKeys?: SigningKeyStore }, clock: Clock) {
    super({ ...stores, vault: new LocalKeyVault(), clock, createOnUse: true, activationDelayMs: 0 });
  }
}
