import { describe, expect, it } from 'vitest';
import { withSettingsCache } from '../../lib/cache.ts';
import type { Client } from '../../lib/model.ts';
import type { ClientStore, TenantStore } from '../../lib/persistence.ts';

/** A store of one client whose reads wait until the test lets them answer. */
const slowStore = () => {
  let client: Client | undefined = { tenantId: 't', clientId: 'c' } as Client;
  const reads: { answer: () => void }[] = [];
  let storeReads = 0;
  const clients: ClientStore = {
    get: () => {
      storeReads++;
      const seen = client; // what the store holds when the read reaches it
      return new Promise<Client | undefined>((resolve) => reads.push({ answer: () => resolve(seen) }));
    },
    create: async () => 'ok',
    delete: async () => {
      const had = client !== undefined;
      client = undefined;
      return had;
    },
  };
  const tenants: TenantStore = {
    get: async () => undefined,
    find: async () => undefined,
    save: async () => 'ok',
    delete: async () => 'absent',
  };
  return { store: { tenants, clients }, reads, storeReads: () => storeReads };
};

describe('withSettingsCache', () => {
  const clock = { now: () => 1_000 };

  it('serves a client from the cache within the TTL', async () => {
    const s = slowStore();
    const cached = withSettingsCache(s.store, clock);
    const first = cached.clients.get('t', 'c');
    s.reads.shift()!.answer();
    expect(await first).toMatchObject({ clientId: 'c' });
    expect(await cached.clients.get('t', 'c')).toMatchObject({ clientId: 'c' });
    expect(s.storeReads()).toBe(1);
  });

  it('does not cache what a read that overlapped a delete saw: the deleted client is not served again', async () => {
    const s = slowStore();
    const cached = withSettingsCache(s.store, clock);
    const overlapping = cached.clients.get('t', 'c'); // reached the store before the delete
    expect(await cached.clients.delete('t', 'c')).toBe(true);
    s.reads.shift()!.answer();
    expect(await overlapping).toMatchObject({ clientId: 'c' }); // it did read the old value...

    const after = cached.clients.get('t', 'c'); // ...but the next read asks the store again
    expect(s.storeReads()).toBe(2);
    s.reads.shift()!.answer();
    expect(await after).toBeUndefined();
  });
});
