import { LocalKeys } from '../../lib/adapters/local-keys.ts';
import type { TenantKeyset } from '../../lib/model.ts';
import type { KeysetStore } from '../../lib/persistence.ts';
import type { Clock, Keys, SigningKeyStore, StoredSigningKey, WriteOutcome } from '../../lib/ports.ts';

/**
 * The directory's key items in memory, with the DynamoDB store's conditions: a keyset is created only if absent and
 * replaced only if unchanged since it was read. `legacy` holds local keys of the layout before keysets.
 */
export const memoryKeyDirectory = () => {
  const keysets = new Map<string, TenantKeyset>();
  const legacy = new Map<string, StoredSigningKey[]>();
  const directory: { keysets: KeysetStore; legacyKeys: SigningKeyStore } = {
    keysets: {
      get: async (tenantId) => structuredClone(keysets.get(tenantId)),
      save: async (keyset, expected): Promise<WriteOutcome> => {
        const current = keysets.get(keyset.tenantId);
        if (expected === null ? current !== undefined : current?.updatedAt !== expected) return 'conflict';
        keysets.set(keyset.tenantId, structuredClone(keyset));
        return 'ok';
      },
    },
    legacyKeys: { getSigningKeys: async (tenantId) => structuredClone(legacy.get(tenantId) ?? []) },
  };
  return { keysets, legacy, directory };
};

/** Local mode's keys over an in-memory directory: the same `Keys` the local service signs with. */
export const memoryLocalKeys = (clock: Clock = { now: Date.now }) => {
  const store = memoryKeyDirectory();
  return { ...store, keys: new LocalKeys(store.directory, clock) };
};

/** A `Keys` whose methods fail unless a test gives them (so an unexpected use shows). */
export const fakeKeys = (methods: Partial<Keys>): Keys => {
  const unused = (name: string) => async () => {
    throw new Error(`Keys.${name} is not used here`);
  };
  return {
    sign: unused('sign'),
    publicJwks: unused('publicJwks'),
    mac: unused('mac'),
    macWith: unused('macWith'),
    ensureKeys: unused('ensureKeys'),
    rotate: unused('rotate'),
    describe: unused('describe'),
    removeWithTenant: unused('removeWithTenant'),
    ...methods,
  };
};
