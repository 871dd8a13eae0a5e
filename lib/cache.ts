import type { Client, Tenant } from './model.ts';
import type { Clock, Store } from './ports.ts';

/**
 * Tenant and client settings change rarely and are read on every request, so each process keeps them
 * for `ttlMs` (default 30 s). Writes through this process invalidate at once; a change made by another
 * process (another Lambda instance) is seen within the TTL. Everything else passes through.
 */
export const withSettingsCache = (store: Store, clock: Clock, ttlMs = 30_000): Store => {
  const tenants = new Map<string, { at: number; value: Tenant | undefined }>();
  const clients = new Map<string, { at: number; value: Client | undefined }>();
  const fresh = (entry: { at: number } | undefined) => entry !== undefined && clock.now() - entry.at < ttlMs;
  const clientKey = (tenantId: string, clientId: string) => `${tenantId}\u0000${clientId}`;

  const cached: Partial<Store> = {
    async getTenant(tenantId) {
      const hit = tenants.get(tenantId);
      if (fresh(hit)) return hit!.value;
      const value = await store.getTenant(tenantId);
      tenants.set(tenantId, { at: clock.now(), value });
      return value;
    },
    async saveTenant(tenant, expected) {
      tenants.delete(tenant.tenantId);
      return store.saveTenant(tenant, expected);
    },
    async deleteTenant(tenantId) {
      tenants.delete(tenantId);
      for (const key of clients.keys()) if (key.startsWith(`${tenantId}\u0000`)) clients.delete(key);
      return store.deleteTenant(tenantId);
    },
    async getClient(tenantId, clientId) {
      const key = clientKey(tenantId, clientId);
      const hit = clients.get(key);
      if (fresh(hit)) return hit!.value;
      const value = await store.getClient(tenantId, clientId);
      clients.set(key, { at: clock.now(), value });
      return value;
    },
    async createClient(client) {
      clients.delete(clientKey(client.tenantId, client.clientId));
      return store.createClient(client);
    },
    async deleteClient(tenantId, clientId) {
      clients.delete(clientKey(tenantId, clientId));
      return store.deleteClient(tenantId, clientId);
    },
  };

  return new Proxy(store, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && prop in cached) return cached[prop as keyof Store];
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
};
