import { NotFound } from '../errors.ts';
import type { Tenant } from '../model.ts';
import type { TenantStore } from '../persistence.ts';

/** The tenant named by the path; an unknown tenant is 404 everywhere. */
export const loadTenant = async (tenants: Pick<TenantStore, 'get'>, tenantId: string): Promise<Tenant> => {
  const tenant = await tenants.get(tenantId);
  if (!tenant) throw new NotFound('unknown tenant');
  return tenant;
};
