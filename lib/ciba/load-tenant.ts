import { NotFound } from '../errors.ts';
import type { Tenant } from '../model.ts';
import type { Directory } from '../ports.ts';

/** The tenant named by the path; an unknown tenant is 404 everywhere. */
export const loadTenant = async (directory: Directory, tenantId: string): Promise<Tenant> => {
  const tenant = await directory.getTenant(tenantId);
  if (!tenant) throw new NotFound('unknown tenant');
  return tenant;
};
