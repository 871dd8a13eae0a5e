import type { Client, Tenant } from './model.ts';
import type { Clock, Store } from './ports.ts';

/**
 * Tenant and client settings change rarely and are read on every request, so each process keeps them
 * for `ttlMs` (default 30 s). Writes through this process invalidate at once, also against reads that overlap them;
 * a change made by another process (another Lambda instance) is seen within the TTL. Everything else passes through.
 */
export const withSettingsCache = (store: Store, clock: Clock, ttlMs = 30_000): Store => {
  const tenants = new Map<string, { at: number; value: Tenant | undefined }>();
  const clients = new Map<string, { at: number; value: Client | undefined }>();
  const fresh = (entry: { at: number } | undefined) => entry !== undefined && clock.now() - entry.at < ttlMs;
  const clientKey = (tenantId: string, clientId: string) => `${tenantId}\u0000${clientId}`;

  // Bumped before and after every write: a read that overlapped a write keeps its answer out of the cache (it may
  // have read the old value, and would otherwise put it back after the write invalidated it).
  let writes = 0;
  const write = async <T>(invalidate: () => void, run: () => Promise<T>): Promise<T> => {
    writes++;
    invalidate();
    try {
      return await run();
    } finally {
      writes++;
      invalidate();
    }
  };
  const read = async <V>(map: Map<string, { at: number; value: V }>, key: string, load: () => Promise<V>) => {
    const hit = map.get(key);
    if (fresh(hit)) return hit!.value;
    const before = writes;
    const value = await load();
    if (writes === before) map.set(key, { at: clock.now(), value });
    return value;
  };
  const forgetTenant = (tenantId: string) => () => {
    tenants.delete(tenantId);
    for (const key of clients.keys()) if (key.startsWith(`${tenantId}\u0000`)) clients.delete(key);
  };

  const cached: Partial<Store> = {
    getTenant: (tenantId) => read(tenants, tenantId, () => store.getTenant(tenantId)),
    saveTenant: (tenant, expected) =>
      write(
        () => tenants.delete(tenant.tenantId),
        () => store.saveTenant(tenant, expected),
      ),
    deleteTenant: (tenantId) => write(forgetTenant(tenantId), () => store.deleteTenant(tenantId)),
    getClient: (tenantId, clientId) =>
      read(clients, clientKey(tenantId, clientId), () => store.getClient(tenantId, clientId)),
    createClient: (client) =>
      write(
        () => clients.delete(clientKey(client.tenantId, client.clientId)),
        () => store.createClient(client),
      ),
    deleteClient: (tenantId, clientId) =>
      write(
        () => clients.delete(clientKey(tenantId, clientId)),
        () => store.deleteClient(tenantId, clientId),
      ),
  };

  return new Proxy(store, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && prop in cached) return cached[prop as keyof Store];
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
};
