import type { Client, Tenant } from './model.ts';
import type { ClientStore, TenantStore } from './persistence.ts';
import type { Clock } from './ports.ts';

/**
 * Tenant and client settings change rarely and are read on every request, so each process keeps them for `ttlMs`
 * (default 30 s). Writes through this process invalidate at once, also against reads that overlap them (deleting a
 * tenant forgets its clients); a change made by another process (another Lambda instance) is seen within the TTL.
 */
/** How long a process keeps tenant and client settings by default. */
export const SETTINGS_TTL_MS = 30_000;

export const withSettingsCache = (
  stores: { tenants: TenantStore; clients: ClientStore },
  clock: Clock,
  ttlMs = SETTINGS_TTL_MS,
): { tenants: TenantStore; clients: ClientStore } => {
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

  return {
    tenants: {
      get: (tenantId) => read(tenants, tenantId, () => stores.tenants.get(tenantId)),
      save: (tenant, expected) =>
        write(
          () => tenants.delete(tenant.tenantId),
          () => stores.tenants.save(tenant, expected),
        ),
      find: (tenantId) => stores.tenants.find(tenantId),
      delete: (tenantId, maxItems) => write(forgetTenant(tenantId), () => stores.tenants.delete(tenantId, maxItems)),
    },
    clients: {
      get: (tenantId, clientId) =>
        read(clients, clientKey(tenantId, clientId), () => stores.clients.get(tenantId, clientId)),
      create: (client) =>
        write(
          () => clients.delete(clientKey(client.tenantId, client.clientId)),
          () => stores.clients.create(client),
        ),
      delete: (tenantId, clientId) =>
        write(
          () => clients.delete(clientKey(tenantId, clientId)),
          () => stores.clients.delete(tenantId, clientId),
        ),
    },
  };
};
